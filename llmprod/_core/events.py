"""Events: what layers report. Layers decide; hooks log, count and bill.

Every event is a small frozen dataclass. A hook receives each one and picks the
kinds it cares about with ``isinstance`` or ``match``. No event carries prompt or
completion text, nor an API key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from .models import AttemptRecord, ChatResponse

log = logging.getLogger("llmprod")


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    model: str | None
    stream: bool
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class CallFinished:
    """A call ended: ``response`` on success, ``error`` (its type name) on failure.

    ``model`` is the model the call asked for: its ``model=``, else the first
    deployment's own model.
    """

    call_id: str
    stream: bool
    latency: float
    response: ChatResponse | None = None
    error: str | None = None
    model: str | None = None
    tenant: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    slo: str | None = None
    ttft: float | None = None
    chunk_gaps: tuple[float, ...] = ()  # a stream's seconds between chunks (only with an OpenTelemetry SDK)
    operation: str = "chat"  # "chat", "embed" or "responses" (see llmprod._core.call)


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    call_id: str | None
    record: AttemptRecord


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    call_id: str | None
    deployment: str
    attempt: int
    delay: float
    error: str


@dataclass(frozen=True, slots=True)
class StreamResumed:
    """A stream broke after ``received`` characters reached the caller (``resume=True``),
    and the deployment is asked to continue it; ``attempt`` counts the call's resumes
    (1 for the first), ``error`` is the break's type name."""

    call_id: str | None
    deployment: str
    received: int
    attempt: int
    error: str


@dataclass(frozen=True, slots=True)
class FallbackUsed:
    call_id: str | None
    failed: str
    next: str
    error: str


@dataclass(frozen=True, slots=True)
class HedgeSent:
    call_id: str | None
    deployment: str
    replica: str


BreakerState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class BreakerStateChanged:
    deployment: str
    replica: str
    old: BreakerState
    new: BreakerState


CacheOutcome = Literal["hit", "miss", "stale", "coalesced", "error"]


@dataclass(frozen=True, slots=True)
class CacheLookup:
    call_id: str | None
    outcome: CacheOutcome
    saved_cost: float | None = None
    saved_tokens: int = 0


@dataclass(frozen=True, slots=True)
class PIIRedacted:
    call_id: str | None
    direction: Literal["input", "output"]
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class GuardTriggered:
    call_id: str | None
    guard: str
    direction: Literal["input", "output"]
    action: Literal["block", "flag", "replace"]
    reason: str


@dataclass(frozen=True, slots=True)
class RateLimitHit:
    call_id: str | None
    limit: str
    waited: float
    rejected: bool


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    budget: str
    kind: Literal["soft", "hard", "overspend"]
    spent: float
    limit: float


@dataclass(frozen=True, slots=True)
class Feedback:
    response_id: str
    score: float | None
    label: str | None


Event = (
    CallStarted
    | CallFinished
    | AttemptFinished
    | RetryScheduled
    | StreamResumed
    | FallbackUsed
    | HedgeSent
    | BreakerStateChanged
    | CacheLookup
    | PIIRedacted
    | GuardTriggered
    | RateLimitHit
    | BudgetAlert
    | Feedback
)


class Hook(Protocol):
    """Receives every event a client's layers emit. Must not block or raise.

    A hook that raises is logged and skipped; the call goes on.
    """

    def __call__(self, event: Event) -> None: ...


Emit = Callable[[Event], None]


class Emitter:
    """Fans one event out to every hook; a failing hook is logged, never raised."""

    __slots__ = ("hooks",)

    def __init__(self, hooks: Iterable[Hook] = ()) -> None:
        self.hooks: list[Hook] = list(hooks)

    def __call__(self, event: Event) -> None:
        for hook in self.hooks:
            try:
                hook(event)
            except Exception as exc:  # a hook must never break a call
                log.warning("llmprod hook %r failed on %s: %s", hook, type(event).__name__, type(exc).__name__)
