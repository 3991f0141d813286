"""Configuration objects: frozen, keyword-only, with safe defaults.

Each one configures one layer. They hold no state and import nothing heavy, so
``import llmprod`` stays fast; the layers that act on them are built by the client.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError


def _number(name: str, value: object, *, low: float = 0.0, allow_low: bool = False, optional: bool = False) -> None:
    """``value`` is a finite real number above ``low`` (or at it, with ``allow_low``); None when ``optional``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"must be a number, got {type(value).__name__}", path=name)
    if not math.isfinite(value):
        raise ConfigError(f"must be a finite number, got {value!r}", path=name)
    if value < low or (value == low and not allow_low):
        raise ConfigError(f"must be {'>=' if allow_low else '>'} {low:g}, got {value!r}", path=name)


def _positive(name: str, value: object, *, allow_zero: bool = False, optional: bool = True) -> None:
    _number(name, value, allow_low=allow_zero, optional=optional)


def _integer(name: str, value: object, *, low: int = 1, optional: bool = False) -> None:
    """``value`` is an int (not a bool) of at least ``low``; None when ``optional``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"must be an integer, got {type(value).__name__}", path=name)
    if value < low:
        raise ConfigError(f"must be >= {low}, got {value!r}", path=name)


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value) if isinstance(value, str) and len(value) <= 40 else type(value).__name__
        raise ConfigError(f"must be one of {', '.join(map(repr, allowed))}, got {shown}", path=name)


def _flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"must be True or False, got {type(value).__name__}", path=name)


def _text(name: str, value: object, *, optional: bool = False, empty: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or (not empty and not value):
        raise ConfigError(f"must be a {'non-empty ' if not empty else ''}string, got {type(value).__name__}", path=name)


def _url(name: str, value: object) -> None:
    """An optional Redis URL; never echoed (it may hold a password)."""
    if value is not None and not (isinstance(value, str) and value):
        raise ConfigError(f"must be a URL string or None, got {type(value).__name__}", path=name)


def _sequence(name: str, value: object, *, of: type | tuple[type, ...] | None = None, what: str = "") -> None:
    """A list or tuple (never one string), whose items are all ``of`` when given."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigError(f"must be a list, got {type(value).__name__}", path=name)
    for i, item in enumerate(value):
        if of is not None and not isinstance(item, of):
            raise ConfigError(f"must be {what}, got {type(item).__name__}", path=f"{name}[{i}]")


def _callables(name: str, value: object) -> None:
    _sequence(name, value)
    items: Sequence[object] = value  # type: ignore[assignment]
    for i, item in enumerate(items):
        if not callable(item):
            raise ConfigError(f"must be callable, got {type(item).__name__}", path=f"{name}[{i}]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """Time limits. ``total`` is the call's overall deadline (set once, at the top);
    ``attempt`` bounds one attempt; ``stream_idle`` the longest gap between two chunks;
    ``grace`` is how far past the deadline a call may run while it unwinds."""

    total: float = 60.0
    attempt: float = 30.0
    connect: float = 5.0
    stream_idle: float = 30.0
    grace: float = 0.5

    def __post_init__(self) -> None:
        for name in ("total", "attempt", "connect", "stream_idle"):
            _positive(f"timeout.{name}", getattr(self, name), optional=False)
        _positive("timeout.grace", self.grace, allow_zero=True, optional=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """Retry retryable failures with capped exponential backoff and jitter.

    ``attempts`` counts the first try. A provider's ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds; a longer one gives up at once with the error.
    """

    attempts: int = 3
    initial: float = 0.25
    maximum: float = 8.0
    exp_base: float = 2.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        _integer("retry.attempts", self.attempts)
        _positive("retry.initial", self.initial, allow_zero=True, optional=False)
        _positive("retry.maximum", self.maximum, allow_zero=True, optional=False)
        _number("retry.exp_base", self.exp_base, low=1.0, allow_low=True)  # below 1 the waits would shrink
        _positive("retry.jitter", self.jitter, allow_zero=True, optional=False)
        if self.jitter > 1:
            raise ConfigError(f"must be within [0, 1], got {self.jitter!r}", path="retry.jitter")
        _positive("retry.max_retry_after", self.max_retry_after, allow_zero=True, optional=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Breaker:
    """A circuit breaker per replica.

    By default it opens when at least ``minimum_calls`` calls ended in the last
    ``window`` seconds and at least ``failure_rate`` of them failed (the rule Hystrix
    and resilience4j use: random faults do not open it, a dead replica does at once).
    ``fail_max=N`` opens it after N consecutive failures instead. Open, it fails fast for
    ``reset_timeout`` seconds, then lets one probe through. A caller's own errors never
    count, and one call counts at most once however often it is retried.
    """

    failure_rate: float = 0.5
    minimum_calls: int = 20
    window: float = 10.0
    fail_max: int | None = None
    reset_timeout: float = 30.0
    redis_url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _integer("breaker.fail_max", self.fail_max, optional=True)
        _positive("breaker.failure_rate", self.failure_rate, optional=False)
        if self.failure_rate > 1:
            raise ConfigError(f"must be within (0, 1], got {self.failure_rate!r}", path="breaker.failure_rate")
        _integer("breaker.minimum_calls", self.minimum_calls)
        _positive("breaker.window", self.window, optional=False)
        _positive("breaker.reset_timeout", self.reset_timeout, optional=False)
        _url("breaker.redis_url", self.redis_url)


BalanceStrategy = Literal["round_robin", "least_inflight", "latency", "weighted"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hedge:
    """Send a second request to another replica when the first is slow.

    ``delay`` is seconds, or ``"p95"`` for the replica set's observed p95 latency.
    ``max_extra`` bounds hedges as a fraction of requests (0.1 = 10 % extra).
    """

    delay: float | Literal["p95"] = "p95"
    max_extra: float = 0.1
    min_delay: float = 0.01

    def __post_init__(self) -> None:
        if not (isinstance(self.delay, str) and self.delay == "p95"):
            _positive("hedge.delay", self.delay, optional=False)
        _positive("hedge.max_extra", self.max_extra, optional=False)
        if self.max_extra > 1:
            raise ConfigError(f"must be within (0, 1], got {self.max_extra!r}", path="hedge.max_extra")
        _positive("hedge.min_delay", self.min_delay, allow_zero=True, optional=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cache:
    """Exact-match response cache.

    Requests that are not deterministic (temperature > 0 and no seed) are not
    cached unless ``cache_nondeterministic`` is True. ``stale_ttl`` keeps expired
    entries that long to serve (marked ``stale``) when every backend fails.
    With ``redis_url`` the entries live in Redis (the ``redis`` extra), shared by
    every process; ``redis_timeout`` bounds each Redis command, and a Redis that is
    down or slow makes the cache a miss, never a failed call.
    """

    ttl: float = 3600.0
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    stale_ttl: float = 86_400.0
    coalesce: bool = True
    cache_nondeterministic: bool = False
    redis_url: str | None = field(default=None, repr=False)
    redis_timeout: float = 0.25
    namespace: str = "llmprod"

    def __post_init__(self) -> None:
        _positive("cache.ttl", self.ttl, optional=False)
        _positive("cache.stale_ttl", self.stale_ttl, allow_zero=True, optional=False)
        _positive("cache.redis_timeout", self.redis_timeout, optional=False)
        _integer("cache.max_entries", self.max_entries)
        _integer("cache.max_bytes", self.max_bytes)
        _flag("cache.coalesce", self.coalesce)
        _flag("cache.cache_nondeterministic", self.cache_nondeterministic)
        _url("cache.redis_url", self.redis_url)
        _text("cache.namespace", self.namespace, empty=False)


PIIMode = Literal["mask", "pseudonymize"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PII:
    """Redact PII from prompts before they leave, and from answers.

    ``mode="mask"`` writes ``[EMAIL]``; ``"pseudonymize"`` writes ``<EMAIL_1>`` and,
    with ``restore=True``, puts the originals back into the answer for the caller.
    ``entities`` limits the detectors (None: all of them); ``detectors`` adds custom
    ones (``llmprod.pii.Detector``). PII the model itself writes is redacted too
    (``redact_output``) and is never restored.
    """

    mode: PIIMode = "mask"
    restore: bool = True
    entities: Sequence[str] | None = None
    redact_output: bool = True
    detectors: Sequence[Any] = ()

    def __post_init__(self) -> None:
        _choice("pii.mode", self.mode, ("mask", "pseudonymize"))
        _flag("pii.restore", self.restore)
        _flag("pii.redact_output", self.redact_output)
        if self.entities is not None:
            _sequence("pii.entities", self.entities, of=str, what="an entity name")
        _sequence("pii.detectors", self.detectors)
        if self.detectors:
            from ..pii._detectors import Detector

            _sequence("pii.detectors", self.detectors, of=Detector, what="a llmprod.pii.Detector")


BudgetWindow = Literal["total", "day", "month"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Spend limits in USD over a window, per client, per tenant or per tag value.

    ``per`` is ``"client"``, ``"tenant"``, or ``"tag:NAME"``. A ``hard`` limit refuses
    a call (``BudgetExceededError``) whose worst-case cost would overspend; ``soft``
    calls ``on_soft`` once per window when crossed.
    """

    hard: float | None = None
    soft: float | None = None
    window: BudgetWindow = "total"
    per: str = "client"
    on_soft: Callable[[str, float, float], None] | None = None
    redis_url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _positive("budget.hard", self.hard, allow_zero=True)
        _positive("budget.soft", self.soft, allow_zero=True)
        _choice("budget.window", self.window, ("total", "day", "month"))
        _text("budget.per", self.per)
        if self.on_soft is not None and not callable(self.on_soft):
            raise ConfigError(f"must be callable or None, got {type(self.on_soft).__name__}", path="budget.on_soft")
        _url("budget.redis_url", self.redis_url)
        if self.per not in ("client", "tenant") and not self.per.startswith("tag:"):
            raise ConfigError(f"must be 'client', 'tenant' or 'tag:NAME', got {self.per!r}", path="budget.per")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """Token buckets per API key (or tenant): requests and tokens per minute.

    ``on_limit="wait"`` waits for capacity within the call's deadline;
    ``"reject"`` raises ``RateLimitedError(source="local")`` at once.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    per: Literal["api_key", "tenant", "client"] = "api_key"
    on_limit: Literal["wait", "reject"] = "wait"
    redis_url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _positive("rate_limit.requests_per_minute", self.requests_per_minute)
        _positive("rate_limit.tokens_per_minute", self.tokens_per_minute)
        _choice("rate_limit.per", self.per, ("api_key", "tenant", "client"))
        _choice("rate_limit.on_limit", self.on_limit, ("wait", "reject"))
        _url("rate_limit.redis_url", self.redis_url)


GuardAction = Literal["block", "flag", "replace"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Guards:
    """Input and output guards.

    Input: limits on prompt tokens, messages and characters, and a prompt-injection
    filter (``injection="block"`` or ``"flag"``, threshold on its score). Output:
    ``output_classifiers`` are callables ``text -> reason | None``; ``output_action``
    says what a hit does (a blocked answer is never cached).
    """

    max_prompt_tokens: int | None = None
    max_messages: int | None = 256
    max_chars: int | None = 1_000_000
    injection: Literal["block", "flag", "off"] = "flag"
    injection_threshold: float = 0.5
    output_classifiers: Sequence[Callable[[str], str | None]] = ()
    output_action: GuardAction = "block"
    output_replacement: str = "[removed by output guard]"
    blocklist: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("max_prompt_tokens", "max_messages", "max_chars"):
            _integer(f"guards.{name}", getattr(self, name), optional=True)
        _choice("guards.injection", self.injection, ("block", "flag", "off"))
        _positive("guards.injection_threshold", self.injection_threshold, optional=False)
        if self.injection_threshold > 1:
            raise ConfigError(
                f"must be within (0, 1], got {self.injection_threshold!r}", path="guards.injection_threshold"
            )
        _callables("guards.output_classifiers", self.output_classifiers)
        _choice("guards.output_action", self.output_action, ("block", "flag", "replace"))
        _text("guards.output_replacement", self.output_replacement)
        if isinstance(self.blocklist, str):
            raise ConfigError("must be a list of terms, not one string", path="guards.blocklist")
        _sequence("guards.blocklist", self.blocklist, of=str, what="a string")


@dataclass(frozen=True, slots=True, kw_only=True)
class Telemetry:
    """Tracing and metrics through opentelemetry-api (no-op until an SDK is installed).

    ``capture_content`` puts prompt and answer text on spans, after PII redaction.
    """

    enabled: bool = True
    capture_content: bool = False
    stats_window: float = 300.0
    metric_labels: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _flag("telemetry.enabled", self.enabled)
        _flag("telemetry.capture_content", self.capture_content)
        _positive("telemetry.stats_window", self.stats_window, optional=False)
        if not isinstance(self.metric_labels, Mapping) or not all(isinstance(k, str) for k in self.metric_labels):
            raise ConfigError("must map label names (strings) to values", path="telemetry.metric_labels")
