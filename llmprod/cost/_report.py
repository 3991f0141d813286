"""Spend totals and the report ``client.costs()`` returns (text, HTML with charts, dict,
pandas, matplotlib). How it reads is :mod:`._report_view`'s business: the report hands
it plain data (:meth:`CostReport.view`), and the view imports nothing from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .._core.errors import MissingDependencyError
from . import _report_view

GROUPS = ("model", "deployment", "tenant", "tag")


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
    """A snapshot of the ledger: totals, and the same by model, deployment, tenant, tag.

    ``timeline`` is ``(unix time, model, cost)`` per recent call, oldest first (what
    the ledger keeps; empty for a report read from Redis). ``overspent_by_budget`` is
    how far each hard budget's spend went past its limit (USD, by budget name and
    window, as this process saw it: a provider that ignored ``max_tokens``);
    ``overspent`` is their sum, 0.0 when every budget held.
    """

    total: Totals
    groups: Mapping[str, Mapping[str, Totals]] = field(default_factory=dict)
    timeline: Sequence[tuple[float, str, float]] = ()
    overspent_by_budget: Mapping[str, float] = field(default_factory=dict)

    @property
    def overspent(self) -> float:
        return sum(self.overspent_by_budget.values())

    def by(self, group: str) -> Mapping[str, Totals]:
        """One breakdown: ``"model"``, ``"deployment"``, ``"tenant"`` or ``"tag"``."""
        return self.groups.get(group, {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.to_dict(),
            **{g: {k: t.to_dict() for k, t in sorted(self.by(g).items())} for g in GROUPS},
            "overspent": self.overspent,
            "overspent_by_budget": dict(self.overspent_by_budget),
        }

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per group and name, totals included: what ``to_pandas`` holds."""
        return [{"group": g, "name": k, **t.to_dict()} for g in GROUPS for k, t in sorted(self.by(g).items())]

    def view(self) -> dict[str, Any]:
        """Everything a view shows, as plain data (see :mod:`llmprod.cost._report_view`)."""
        return {
            "total": self.total.to_dict(),
            "rows": self.rows(),
            "timeline": [list(t) for t in self.timeline],
            "overspent": self.overspent,
            "overspent_by_budget": dict(self.overspent_by_budget),
        }

    def to_pandas(self) -> Any:
        """The breakdowns as a pandas DataFrame, one row per group and name; needs pandas."""
        return _frame(self.rows())

    def timeline_to_pandas(self) -> Any:
        """One row per recent call: time (UTC), model, cost; needs pandas."""
        frame = _frame([{"time": t, "model": m, "cost": c} for t, m, c in self.timeline])
        if len(frame):
            import pandas

            frame["time"] = pandas.to_datetime(frame["time"], unit="s", utc=True)
        return frame

    def plot(self) -> Any:
        """A matplotlib figure: cumulative cost over time by model, and cost by model."""
        return _report_view.figure(self.view())

    def __repr__(self) -> str:
        return _report_view.text(self.view())

    def _repr_html_(self) -> str:
        return _report_view.html_page(self.view())


def _frame(rows: list[dict[str, Any]]) -> Any:
    try:
        import pandas
    except ImportError:
        raise MissingDependencyError("pandas", "notebook") from None
    return pandas.DataFrame(rows)
