"""Spend totals and the report ``client.costs()`` returns (text, HTML, dict)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

GROUPS = ("model", "deployment", "tenant", "tag")
_HTML_COLUMNS = ("group", "name", "requests", "cache hits", "tokens", "cost $", "$ / 1K req", "$ / 1M tok", "saved $")


@dataclass(slots=True)
class Totals:
    """Counts and USD for one group of calls (a model, a tenant, ...)."""

    requests: int = 0  # successful calls, cache hits included
    errors: int = 0
    cache_hits: int = 0
    unpriced: int = 0  # calls whose model has no price (cost None)
    estimated: int = 0  # calls whose usage was counted locally
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0
    saved: float = 0.0  # what cache hits would have cost

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def per_1k_requests(self) -> float | None:
        """USD per 1,000 successful priced requests (cache hits count, at $0)."""
        priced = self.requests - self.unpriced
        return self.cost / priced * 1000 if priced > 0 else None

    @property
    def per_1m_tokens(self) -> float | None:
        """USD per million tokens sent to and received from backends."""
        return self.cost / self.tokens * 1_000_000 if self.tokens > 0 else None

    def merge(self, other: Totals) -> None:
        # Spelled out: this runs several times per call, and a loop over the fields is slow.
        self.requests += other.requests
        self.errors += other.errors
        self.cache_hits += other.cache_hits
        self.unpriced += other.unpriced
        self.estimated += other.estimated
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        self.cost += other.cost
        self.saved += other.saved

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(tokens=self.tokens, per_1k_requests=self.per_1k_requests, per_1m_tokens=self.per_1m_tokens)
        return out


@dataclass(frozen=True, slots=True)
class CostReport:
    """A snapshot of the ledger: totals, and the same by model, deployment, tenant, tag."""

    total: Totals
    groups: Mapping[str, Mapping[str, Totals]] = field(default_factory=dict)

    def by(self, group: str) -> Mapping[str, Totals]:
        """One breakdown: ``"model"``, ``"deployment"``, ``"tenant"`` or ``"tag"``."""
        return self.groups.get(group, {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.to_dict(),
            **{g: {k: t.to_dict() for k, t in sorted(self.by(g).items())} for g in GROUPS},
        }

    def __repr__(self) -> str:
        t = self.total
        lines = [
            f"cost          ${t.cost:.6f} over {t.requests} requests ({_money(t.per_1k_requests)} per 1K requests, "
            f"{_money(t.per_1m_tokens)} per 1M tokens)",
            f"tokens        {t.prompt_tokens} prompt ({t.cached_tokens} cached) + {t.completion_tokens} completion"
            + (f"; {t.estimated} calls estimated" if t.estimated else ""),
            f"cache saved   ${t.saved:.6f} on {t.cache_hits} hits",
        ]
        if t.unpriced:
            lines.append(f"unpriced      {t.unpriced} calls on models with no price")
        for group in ("model", "deployment"):
            rows = self.by(group)
            if rows:
                lines.append(f"by {group}")
                lines.extend(_row(name, rows[name]) for name in sorted(rows))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in _HTML_COLUMNS)
        body = [_html_row("total", "all", self.total)]
        for group in GROUPS:
            body.extend(_html_row(group, name, self.by(group)[name]) for name in sorted(self.by(group)))
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _row(name: str, t: Totals) -> str:
    return (
        f"  {name:<24} {t.requests:>6} req  {t.tokens:>9} tok  ${t.cost:>10.6f}  "
        f"{_money(t.per_1k_requests):>10} /1K req  {_money(t.per_1m_tokens):>10} /1M tok"
    )


def _html_row(group: str, name: str, t: Totals) -> str:
    cells = (
        group,
        name,
        t.requests,
        t.cache_hits,
        t.tokens,
        f"{t.cost:.6f}",
        _money(t.per_1k_requests),
        _money(t.per_1m_tokens),
        f"{t.saved:.6f}",
    )
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
