"""The price table as text, for ``llmprod prices [MODEL]``, and close names for a typo."""

from __future__ import annotations

import difflib

from ._prices import Price, PriceTable, prices

HEADER = f"{'model':<34} {'input':>8} {'cached':>8} {'write':>8} {'output':>8} {'context':>10}  provider"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def price_line(p: Price) -> str:
    window = f"{p.context_window:,}" if p.context_window else "-"
    return (
        f"{p.model:<34} {_money(p.input):>8} {_money(p.cached_input):>8} {_money(p.cache_write):>8} "
        f"{_money(p.output):>8} {window:>10}  {p.provider or ''}"
    )


def price_lines(table: PriceTable | None = None) -> list[str]:
    """Every model, one line each, under a header (USD per million tokens)."""
    table = table or prices
    return [HEADER + "   (USD per 1M tokens)", *(price_line(p) for p in table.models())]


def describe_price(p: Price) -> str:
    """One model in full: its prices, and where they come from."""
    lines = [HEADER + "   (USD per 1M tokens)", price_line(p), f"source: {p.source or '-'}"]
    if p.url:
        lines.append(f"pricing page: {p.url}")
    if p.read:
        lines.append(f"prices as of: {p.read}")
    if p.max_output:
        lines.append(f"max output: {p.max_output:,} tokens")
    if p.note:
        lines.append(f"note: {p.note}")
    return "\n".join(lines)


def close_names(model: str, table: PriceTable | None = None, n: int = 5) -> list[str]:
    """Known names closest to ``model`` (for "did you mean")."""
    table = table or prices
    names = table.names()
    lowered = model.lower()
    close = difflib.get_close_matches(lowered, names, n=n, cutoff=0.6)
    if len(close) < n:  # a family name ("claude") is a prefix of many rows, not close to any one
        close += [name for name in names if lowered in name and name not in close][: n - len(close)]
    return close
