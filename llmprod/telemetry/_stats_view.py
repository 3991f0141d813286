"""How :class:`~llmprod.telemetry._stats.Stats` reads: a plain-text ``repr`` and an HTML table."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._stats import Percentiles, Stats, Summary


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _pcts(p: Percentiles) -> str:
    return f"p50 {_ms(p.p50)}  p95 {_ms(p.p95)}  p99 {_ms(p.p99)}"


def _line(name: str, s: Summary) -> str:
    return (
        f"  {name}: {s.requests} requests ({s.requests_per_second:.2f}/s), errors {_pct(s.error_rate)}, "
        f"latency {_pcts(s.latency)}, ttft {_pcts(s.ttft)}, {s.tokens_per_second:.1f} tokens/s, "
        f"cache hits {_pct(s.cache_hit_rate)}, {_usd(s.cost_per_1k_requests)} per 1K requests"
    )


def stats_text(stats: Stats) -> str:
    lines = [f"llmprod stats over the last {stats.window:.1f} s", _line("all", stats.overall)]
    for title, groups in (("model", stats.by_model), ("deployment", stats.by_deployment)):
        if len(groups) > 1 or (groups and title == "deployment"):
            lines += [_line(f"{title} {name}", s) for name, s in sorted(groups.items())]
    for name, slo in stats.slo.items():
        lines.append(f"  SLO {name} (< {_ms(slo.target)}): {_pct(slo.attainment)} of {slo.requests} requests")
    counted = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in stats.counts.items() if v)
    if counted:
        lines.append(f"  events: {counted}")
    if stats.feedback_score is not None:
        lines.append(f"  mean feedback score: {stats.feedback_score:.3g}")
    if stats.cache_entries is not None:
        lines.append(f"  cache holds {stats.cache_entries} entries, {(stats.cache_bytes or 0) / 1024:.1f} KiB")
    return "\n".join(lines)


_COLUMNS = ("", "requests", "req/s", "errors", "p50", "p95", "p99", "ttft p50", "tokens/s", "cache hits", "$ / 1K req")


def _row(name: str, s: Summary) -> str:
    cells = (
        name,
        str(s.requests),
        f"{s.requests_per_second:.2f}",
        _pct(s.error_rate),
        _ms(s.latency.p50),
        _ms(s.latency.p95),
        _ms(s.latency.p99),
        _ms(s.ttft.p50),
        f"{s.tokens_per_second:.1f}",
        _pct(s.cache_hit_rate),
        _usd(s.cost_per_1k_requests),
    )
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def stats_html(stats: Stats) -> str:
    rows = [_row("all", stats.overall)]
    rows += [_row(f"model {k}", v) for k, v in sorted(stats.by_model.items())]
    rows += [_row(f"deployment {k}", v) for k, v in sorted(stats.by_deployment.items())]
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    parts = [
        f"<div><b>llmprod stats</b> over the last {stats.window:.1f} s",
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
    ]
    if stats.slo:
        slo = ", ".join(
            f"{html.escape(k)} (&lt; {_ms(v.target)}): {_pct(v.attainment)} of {v.requests}"
            for k, v in stats.slo.items()
        )
        parts.append(f"<p>SLO attainment: {slo}</p>")
    counted = ", ".join(f"{html.escape(k.replace('_', ' '))} {v}" for k, v in stats.counts.items() if v)
    if counted:
        parts.append(f"<p>Events: {counted}</p>")
    if stats.cache_entries is not None:
        parts.append(f"<p>Cache holds {stats.cache_entries} entries, {(stats.cache_bytes or 0) / 1024:.1f} KiB</p>")
    return "".join(parts) + "</div>"
