"""How a cost report reads: text, an HTML table with charts, a matplotlib figure.

It renders plain data, as :meth:`CostReport.view` produces it, and imports none of the
data classes. The view is a dict with ``total`` (a row), ``rows`` (dicts with ``group``
"model", "deployment", "tenant" or "tag", ``name``, ``requests``, ``errors``,
``cache_hits``, ``unpriced``, ``estimated``, ``prompt_tokens``, ``cached_tokens``,
``completion_tokens``, ``tokens``, ``cost``, ``saved``, ``per_1k_requests``,
``per_1m_tokens``), ``timeline`` (``[unix time, model, cost]`` per call, oldest first),
``overspent`` (USD spent past hard budgets, 0.0 when every one held) and
``overspent_by_budget`` (budget name -> USD).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ..telemetry._charts import new_figure, svg_bars, svg_lines

_HTML_COLUMNS = ("group", "name", "requests", "cache hits", "tokens", "cost $", "$ / 1K req", "$ / 1M tok", "saved $")


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _line(row: Mapping[str, Any]) -> str:
    return (
        f"  {row['name']:<24} {row['requests']:>6} req  {row['tokens']:>9} tok  ${row['cost']:>10.6f}  "
        f"{_money(row['per_1k_requests']):>10} /1K req  {_money(row['per_1m_tokens']):>10} /1M tok"
    )


def text(view: Mapping[str, Any]) -> str:
    t = view["total"]
    lines = [
        f"cost          ${t['cost']:.6f} over {t['requests']} requests ({_money(t['per_1k_requests'])} per 1K "
        f"requests, {_money(t['per_1m_tokens'])} per 1M tokens)",
        f"tokens        {t['prompt_tokens']} prompt ({t['cached_tokens']} cached) + {t['completion_tokens']} completion"
        + (f"; {t['estimated']} calls estimated" if t["estimated"] else ""),
        f"cache saved   ${t['saved']:.6f} on {t['cache_hits']} hits",
    ]
    if t["unpriced"]:
        lines.append(f"unpriced      {t['unpriced']} calls on models with no price")
    if view.get("overspent", 0.0) > 0:
        lines.append(f"overspent     ${view['overspent']:.6f} past hard budgets ({_budgets(view)})")
    for group in ("model", "deployment"):
        rows = [r for r in view["rows"] if r["group"] == group]
        if rows:
            lines.append(f"by {group}")
            lines.extend(_line(r) for r in rows)
    return "\n".join(lines)


def _budgets(view: Mapping[str, Any]) -> str:
    over = view.get("overspent_by_budget", {})
    return ", ".join(f"{name} ${value:.6f}" for name, value in sorted(over.items()) if value > 0)


def _cells(row: Mapping[str, Any]) -> tuple[object, ...]:
    return (
        row["group"],
        row["name"],
        row["requests"],
        row["cache_hits"],
        row["tokens"],
        f"{row['cost']:.6f}",
        _money(row["per_1k_requests"]),
        _money(row["per_1m_tokens"]),
        f"{row['saved']:.6f}",
    )


def html_page(view: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{h}</th>" for h in _HTML_COLUMNS)
    rows = [{**view["total"], "group": "total", "name": "all"}, *view["rows"]]
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in _cells(r)) + "</tr>" for r in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    over = ""
    if view.get("overspent", 0.0) > 0:
        spent = f"${view['overspent']:.6f} past hard budgets ({_budgets(view)})"
        over = f"<p class='llmprod-overspent'><b>overspent</b> {html.escape(spent)}</p>"
    return f"<div class='llmprod-costs'><b>llmprod costs</b>{table}{over}{_charts(view)}</div>"


def cumulative(timeline: Sequence[Sequence[Any]]) -> dict[str, list[tuple[float, float]]]:
    """Spend so far by model, over seconds since the first call: model -> [(t, dollars)]."""
    if not timeline:
        return {}
    start = timeline[0][0]
    totals: dict[str, float] = {}
    series: dict[str, list[tuple[float, float]]] = {}
    for when, model, cost in timeline:
        totals[model] = totals.get(model, 0.0) + cost
        series.setdefault(model, [(0.0, 0.0)]).append((when - start, totals[model]))
    return series


def _charts(view: Mapping[str, Any]) -> str:
    by_model = {r["name"]: r["cost"] for r in view["rows"] if r["group"] == "model" and r["cost"] > 0}
    if not by_model:
        return ""
    charts = [
        svg_lines(cumulative(view["timeline"]), title="cost over time", x_label="seconds", y_label="USD"),
        svg_bars(by_model, title="cost by model", unit="USD"),
    ]
    return f"<div style='display:flex;flex-wrap:wrap'>{''.join(charts)}</div>"


def figure(view: Mapping[str, Any]) -> Any:
    """A matplotlib figure: cumulative cost over time by model, and cost by model."""
    fig = new_figure(11, 4)
    left, right = fig.subplots(1, 2)
    for model, points in cumulative(view["timeline"]).items():
        left.step([x for x, _ in points], [y for _, y in points], where="post", label=model)
    if view["timeline"]:
        left.legend(fontsize="small")
    left.set(title="cost over time", xlabel="seconds since the first call", ylabel="USD")
    models = [r for r in view["rows"] if r["group"] == "model"]
    right.bar([r["name"] for r in models], [r["cost"] for r in models])
    right.set(title="cost by model", ylabel="USD")
    right.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    return fig
