"""In-process stats over a sliding time window: what ``client.stats()`` returns.

For people without a metrics stack, and for the demo report: latency and
time-to-first-chunk percentiles, requests and tokens per second, error rate, cache
hit rate and $ per 1K requests, overall and by model and deployment, SLO attainment
per SLO class, and counts of retries, resumed streams, fallbacks, breaker trips, cache
hits, redactions; and the latencies themselves, for a distribution. Standard library only;
``to_pandas()`` and ``plot()`` use pandas and matplotlib when installed (the ``notebook``
extra). How a snapshot reads is :mod:`._stats_view`'s business: the snapshot hands it
plain data (:meth:`Stats.view`), and the view imports nothing from here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._core.errors import MissingDependencyError
from .._core.events import (
    BreakerStateChanged,
    CacheLookup,
    CallFinished,
    Event,
    FallbackUsed,
    Feedback,
    GuardTriggered,
    HedgeSent,
    PIIRedacted,
    RateLimitHit,
    RetryScheduled,
    StreamResumed,
)
from ..layers._routing import SLO_TARGETS
from . import _stats_view

COUNTS = (
    "retries",
    "resumes",
    "fallbacks",
    "hedges",
    "breaker_trips",
    "cache_hits",
    "cache_misses",
    "pii_redactions",
    "guard_blocks",
    "rate_limited",
    "feedback",
)


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50, p95, p99 in seconds (None without data); linear interpolation between ranks."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> Percentiles:
        data = sorted(values)
        if not data:
            return cls()
        return cls(percentile(data, 0.50), percentile(data, 0.95), percentile(data, 0.99))


def percentile(data: list[float], q: float) -> float:
    """The ``q`` quantile of sorted ``data`` (the 'inclusive'/numpy 'linear' method)."""
    position = (len(data) - 1) * q
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """Figures for one group of calls (all, one model, one deployment).

    Latency percentiles are over successful calls; ``ttft`` over successful streams.
    ``tokens_per_second`` counts output tokens. ``cost_per_1k_requests`` is None
    when no answer carried a cost.
    """

    requests: int
    errors: int
    requests_per_second: float
    tokens_per_second: float
    input_tokens: int
    output_tokens: int
    latency: Percentiles
    ttft: Percentiles
    cache_hit_rate: float | None
    cost: float | None
    cost_per_1k_requests: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class SLOAttainment:
    """Share of calls of one SLO class that succeeded within ``target`` seconds."""

    target: float
    requests: int
    met: int

    @property
    def attainment(self) -> float | None:
        return self.met / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class Stats:
    """A snapshot of a client's calls over the last ``window`` seconds."""

    window: float
    overall: Summary
    by_model: Mapping[str, Summary] = field(default_factory=dict)
    by_deployment: Mapping[str, Summary] = field(default_factory=dict)
    slo: Mapping[str, SLOAttainment] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    feedback_score: float | None = None
    cache_entries: int | None = None  # what the in-memory cache holds now (None: no cache, or Redis)
    cache_bytes: int | None = None
    latencies: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # by model, successful calls (s)

    @property
    def latency(self) -> Percentiles:
        return self.overall.latency

    @property
    def ttft(self) -> Percentiles:
        return self.overall.ttft

    @property
    def error_rate(self) -> float | None:
        return self.overall.error_rate

    @property
    def requests_per_second(self) -> float:
        return self.overall.requests_per_second

    @property
    def cache_hit_rate(self) -> float | None:
        return self.overall.cache_hit_rate

    @property
    def cost_per_1k_requests(self) -> float | None:
        return self.overall.cost_per_1k_requests

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per group (all, each model, each deployment): what ``to_pandas`` holds."""
        groups = [("all", "all", self.overall)]
        groups += [("model", name, s) for name, s in sorted(self.by_model.items())]
        groups += [("deployment", name, s) for name, s in sorted(self.by_deployment.items())]
        return [_row(group, name, s) for group, name, s in groups]

    def view(self) -> dict[str, Any]:
        """Everything a view shows, as plain data (see :mod:`llmprod.telemetry._stats_view`)."""
        return {
            "window": self.window,
            "rows": self.rows(),
            "slo": [
                {"name": k, "target": v.target, "requests": v.requests, "attainment": v.attainment}
                for k, v in self.slo.items()
            ],
            "counts": dict(self.counts),
            "feedback_score": self.feedback_score,
            "cache_entries": self.cache_entries,
            "cache_bytes": self.cache_bytes,
            "latencies": {k: list(v) for k, v in sorted(self.latencies.items())},
        }

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (latencies in seconds); needs pandas."""
        return _frame(self.rows())

    def latencies_to_pandas(self) -> Any:
        """One row per successful call in the window: model and latency (seconds); needs pandas."""
        return _frame([{"model": m, "latency": v} for m, values in sorted(self.latencies.items()) for v in values])

    def plot(self) -> Any:
        """A matplotlib figure: the latency distribution by model, and requests by model."""
        return _stats_view.figure(self.view())

    def __repr__(self) -> str:
        return _stats_view.text(self.view())

    def _repr_html_(self) -> str:
        return _stats_view.html_page(self.view())


def _row(group: str, name: str, s: Summary) -> dict[str, Any]:
    return {
        "group": group,
        "name": name,
        "requests": s.requests,
        "requests_per_second": s.requests_per_second,
        "errors": s.errors,
        "error_rate": s.error_rate,
        "p50": s.latency.p50,
        "p95": s.latency.p95,
        "p99": s.latency.p99,
        "ttft_p50": s.ttft.p50,
        "tokens_per_second": s.tokens_per_second,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cache_hit_rate": s.cache_hit_rate,
        "cost": s.cost,
        "cost_per_1k_requests": s.cost_per_1k_requests,
    }


def _frame(rows: list[dict[str, Any]]) -> Any:
    try:
        import pandas
    except ImportError:
        raise MissingDependencyError("pandas", "notebook") from None
    return pandas.DataFrame(rows)


@dataclass(frozen=True, slots=True)
class _Call:
    at: float
    latency: float
    ttft: float | None
    ok: bool
    model: str
    deployment: str
    input_tokens: int
    output_tokens: int
    cost: float | None
    cached: bool
    slo: str | None


class StatsHook:
    """Keeps the calls of the last ``window`` seconds (at most the ``max_calls`` most
    recent: memory stays flat however busy the client) and answers :meth:`stats`.
    Thread-safe: the sync client reads it from its caller's thread while the loop
    thread writes.
    """

    def __init__(
        self,
        window: float = 300.0,
        *,
        max_calls: int = 10_000,
        slo_targets: Mapping[str, float] = SLO_TARGETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window!r}")
        self.window = window
        self.slo_targets = dict(slo_targets)
        self._clock = clock
        self._created = clock()
        self._calls: deque[_Call] = deque(maxlen=max_calls)
        self._counts: deque[tuple[float, str, int, float | None]] = deque(maxlen=max_calls)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StatsHook(window={self.window!r})"

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallFinished):
            self._add_call(event)
            return
        counted = _counted(event)
        if counted is not None:
            name, n = counted
            score = event.score if isinstance(event, Feedback) else None
            with self._lock:
                self._counts.append((self._clock(), name, n, score))

    def _add_call(self, event: CallFinished) -> None:
        r = event.response
        call = _Call(
            at=self._clock(),
            latency=event.latency,
            ttft=event.ttft,
            ok=r is not None,
            model=(r.model if r is not None else event.model) or "(default)",
            deployment=(r.deployment if r is not None else "") or "(none)",
            input_tokens=r.usage.prompt_tokens if r is not None and not r.cached else 0,
            output_tokens=r.usage.completion_tokens if r is not None and not r.cached else 0,
            cost=r.cost if r is not None else None,
            cached=r is not None and r.cached,
            slo=event.slo,
        )
        with self._lock:
            self._calls.append(call)

    def stats(self) -> Stats:
        """A snapshot over the window."""
        now = self._clock()
        since = now - self.window
        with self._lock:
            while self._calls and self._calls[0].at < since:
                self._calls.popleft()
            while self._counts and self._counts[0][0] < since:
                self._counts.popleft()
            calls = list(self._calls)
            counts = list(self._counts)
        span = max(min(self.window, now - self._created), 1e-9)
        totals = dict.fromkeys(COUNTS, 0)
        scores = [score for _, _, _, score in counts if score is not None]
        for _, name, n, _ in counts:
            totals[name] += n
        return Stats(
            window=span,
            overall=_summary(calls, span),
            by_model={k: _summary(v, span) for k, v in _group(calls, lambda c: c.model).items()},
            by_deployment={k: _summary(v, span) for k, v in _group(calls, lambda c: c.deployment).items()},
            slo=self._slo(calls),
            counts=totals,
            feedback_score=sum(scores) / len(scores) if scores else None,
            latencies={k: tuple(c.latency for c in v if c.ok) for k, v in _group(calls, lambda c: c.model).items()},
        )

    def _slo(self, calls: list[_Call]) -> dict[str, SLOAttainment]:
        out: dict[str, SLOAttainment] = {}
        for name, members in sorted(
            _group((c for c in calls if c.slo in self.slo_targets), lambda c: c.slo or "").items()
        ):
            target = self.slo_targets[name]
            met = sum(1 for c in members if c.ok and c.latency <= target)
            out[name] = SLOAttainment(target=target, requests=len(members), met=met)
        return out


def _counted(event: Event) -> tuple[str, int] | None:
    match event:
        case RetryScheduled():
            return "retries", 1
        case StreamResumed():
            return "resumes", 1
        case FallbackUsed():
            return "fallbacks", 1
        case HedgeSent():
            return "hedges", 1
        case BreakerStateChanged(new="open"):
            return "breaker_trips", 1
        case CacheLookup(outcome="hit" | "stale"):
            return "cache_hits", 1
        case CacheLookup(outcome="miss"):
            return "cache_misses", 1
        case PIIRedacted():
            return "pii_redactions", sum(event.counts.values())
        case GuardTriggered(action="block"):
            return "guard_blocks", 1
        case RateLimitHit(rejected=True):
            return "rate_limited", 1
        case Feedback():
            return "feedback", 1
    return None


def _group(calls: Iterable[_Call], key: Callable[[_Call], str]) -> dict[str, list[_Call]]:
    groups: dict[str, list[_Call]] = {}
    for call in calls:
        groups.setdefault(key(call), []).append(call)
    return groups


def _summary(calls: list[_Call], span: float) -> Summary:
    ok = [c for c in calls if c.ok]
    costs = [c.cost for c in calls if c.cost is not None]
    output_tokens = sum(c.output_tokens for c in calls)
    total_cost = sum(costs) if costs else None
    return Summary(
        requests=len(calls),
        errors=len(calls) - len(ok),
        requests_per_second=len(calls) / span,
        tokens_per_second=output_tokens / span,
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=output_tokens,
        latency=Percentiles.of(c.latency for c in ok),
        ttft=Percentiles.of(c.ttft for c in ok if c.ttft is not None),
        cache_hit_rate=sum(1 for c in calls if c.cached) / len(calls) if calls else None,
        cost=total_cost,
        cost_per_1k_requests=total_cost / len(calls) * 1000 if total_cost is not None else None,
    )
