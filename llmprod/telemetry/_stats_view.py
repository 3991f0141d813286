"""How a stats snapshot reads: text, an HTML table with charts, a matplotlib figure.

It renders plain data (dicts, lists, numbers), as :meth:`Stats.view` produces them, and
imports none of the data classes: the data does not depend on how it is shown, and this
module can be read, tested and replaced on its own. The view is a dict with:

- ``window``: seconds covered;
- ``rows``: one dict per group (``group`` "all", "model" or "deployment", ``name``,
  ``requests``, ``requests_per_second``, ``errors``, ``error_rate``, ``p50``, ``p95``,
  ``p99``, ``ttft_p50`` (seconds), ``tokens_per_second``, ``cache_hit_rate``, ``cost``,
  ``cost_per_1k_requests``), None where unknown;
- ``slo``: dicts of ``name``, ``target``, ``requests``, ``attainment``;
- ``counts``: event name -> count; ``feedback_score``, ``cache_entries``, ``cache_bytes``;
- ``latencies``: model -> latencies in seconds of its successful calls.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ._charts import new_figure, nice_unit, svg_bars, svg_histogram, text_histogram

_COLUMNS = ("", "requests", "req/s", "errors", "p50", "p95", "p99", "ttft p50", "tokens/s", "cache hits", "$ / 1K req")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _label(row: Mapping[str, Any]) -> str:
    return "all" if row["group"] == "all" else f"{row['group']} {row['name']}"


def _line(row: Mapping[str, Any]) -> str:
    return (
        f"  {_label(row)}: {row['requests']} requests ({row['requests_per_second']:.2f}/s), "
        f"errors {_pct(row['error_rate'])}, latency p50 {_ms(row['p50'])}  p95 {_ms(row['p95'])}  "
        f"p99 {_ms(row['p99'])}, ttft p50 {_ms(row['ttft_p50'])}, {row['tokens_per_second']:.1f} tokens/s, "
        f"cache hits {_pct(row['cache_hit_rate'])}, {_usd(row['cost_per_1k_requests'])} per 1K requests"
    )


def _shown(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """All, then models when more than one, then deployments."""
    models = [r for r in rows if r["group"] == "model"]
    return [
        *(r for r in rows if r["group"] == "all"),
        *(models if len(models) > 1 else []),
        *(r for r in rows if r["group"] == "deployment"),
    ]


def _notes(view: Mapping[str, Any]) -> list[str]:
    notes = [
        f"SLO {s['name']} (< {_ms(s['target'])}): {_pct(s['attainment'])} of {s['requests']} requests"
        for s in view["slo"]
    ]
    counted = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in view["counts"].items() if v)
    if counted:
        notes.append(f"events: {counted}")
    if view["feedback_score"] is not None:
        notes.append(f"mean feedback score: {view['feedback_score']:.3g}")
    if view["cache_entries"] is not None:
        notes.append(f"cache holds {view['cache_entries']} entries, {(view['cache_bytes'] or 0) / 1024:.1f} KiB")
    return notes


def text(view: Mapping[str, Any]) -> str:
    lines = [f"llmprod stats over the last {view['window']:.1f} s"]
    lines += [_line(r) for r in _shown(view["rows"])]
    lines += [f"  {note}" for note in _notes(view)]
    everything = [v for values in view["latencies"].values() for v in values]
    if len(everything) >= 2:
        scale, unit = nice_unit(everything)
        lines.append("  latency distribution")
        lines += ["  " + line for line in text_histogram([v * scale for v in everything], count=8, width=30, unit=unit)]
    return "\n".join(lines)


def _cells(row: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        _label(row),
        str(row["requests"]),
        f"{row['requests_per_second']:.2f}",
        _pct(row["error_rate"]),
        _ms(row["p50"]),
        _ms(row["p95"]),
        _ms(row["p99"]),
        _ms(row["ttft_p50"]),
        f"{row['tokens_per_second']:.1f}",
        _pct(row["cache_hit_rate"]),
        _usd(row["cost_per_1k_requests"]),
    )


def html_page(view: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in view["rows"])
    parts = [
        f"<div class='llmprod-stats'><b>llmprod stats</b> over the last {view['window']:.1f} s",
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        _charts(view),
    ]
    parts += [f"<p>{html.escape(note)}</p>" for note in _notes(view)]
    return "".join(parts) + "</div>"


def _charts(view: Mapping[str, Any]) -> str:
    everything = [v for values in view["latencies"].values() for v in values]
    if not everything:
        return ""
    scale, unit = nice_unit(everything)
    charts = [svg_histogram([v * scale for v in everything], title="latency distribution", unit=unit)]
    by_model = {r["name"]: r["p50"] * scale for r in view["rows"] if r["group"] == "model" and r["p50"] is not None}
    if len(by_model) > 1:
        charts.append(svg_bars(by_model, title="p50 latency by model", unit=unit))
    return f"<div style='display:flex;flex-wrap:wrap'>{''.join(charts)}</div>"


def figure(view: Mapping[str, Any]) -> Any:
    """A matplotlib figure: latency distribution by model, and requests by model."""
    fig = new_figure(11, 4)
    left, right = fig.subplots(1, 2)
    everything = [v for values in view["latencies"].values() for v in values]
    scale, unit = nice_unit(everything)
    series = {m: [v * scale for v in values] for m, values in view["latencies"].items() if values}
    if series:
        left.hist(list(series.values()), bins=30, stacked=True, label=list(series))
        left.legend(fontsize="small")
    left.set(title="latency distribution", xlabel=f"latency ({unit})", ylabel="calls")
    models = [r for r in view["rows"] if r["group"] == "model"]
    right.bar([r["name"] for r in models], [r["requests"] for r in models])
    right.set(title="requests by model", ylabel="requests")
    right.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    return fig
