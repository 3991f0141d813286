"""Configuration objects: frozen, keyword-only, with safe defaults.

Each one configures one layer. They hold no state and import nothing heavy, so
``import llmprod`` stays fast; the layers that act on them are built by the client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"must be {'>= 0' if allow_zero else '> 0'}, got {value!r}", path=name)


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
            _positive(f"timeout.{name}", getattr(self, name))
        _positive("timeout.grace", self.grace, allow_zero=True)


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
        if self.attempts < 1:
            raise ConfigError(f"must be >= 1, got {self.attempts!r}", path="retry.attempts")
        _positive("retry.initial", self.initial, allow_zero=True)
        _positive("retry.maximum", self.maximum, allow_zero=True)
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"must be within [0, 1], got {self.jitter!r}", path="retry.jitter")


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
        if self.fail_max is not None and self.fail_max < 1:
            raise ConfigError(f"must be >= 1, got {self.fail_max!r}", path="breaker.fail_max")
        if not 0 < self.failure_rate <= 1:
            raise ConfigError(f"must be within (0, 1], got {self.failure_rate!r}", path="breaker.failure_rate")
        if self.minimum_calls < 1:
            raise ConfigError(f"must be >= 1, got {self.minimum_calls!r}", path="breaker.minimum_calls")
        _positive("breaker.window", self.window)
        _positive("breaker.reset_timeout", self.reset_timeout)


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
        if self.delay != "p95":
            _positive("hedge.delay", float(self.delay))
        if not 0 < self.max_extra <= 1:
            raise ConfigError(f"must be within (0, 1], got {self.max_extra!r}", path="hedge.max_extra")


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
        _positive("cache.ttl", self.ttl)
        _positive("cache.stale_ttl", self.stale_ttl, allow_zero=True)
        _positive("cache.redis_timeout", self.redis_timeout)
        if self.max_entries < 1:
            raise ConfigError(f"must be >= 1, got {self.max_entries!r}", path="cache.max_entries")
        if self.max_bytes < 1:
            raise ConfigError(f"must be >= 1, got {self.max_bytes!r}", path="cache.max_bytes")


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
        if self.mode not in ("mask", "pseudonymize"):
            raise ConfigError(f"must be 'mask' or 'pseudonymize', got {self.mode!r}", path="pii.mode")


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
        if self.window not in ("total", "day", "month"):
            raise ConfigError(f"must be 'total', 'day' or 'month', got {self.window!r}", path="budget.window")
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
        if self.per not in ("api_key", "tenant", "client"):
            raise ConfigError(f"must be 'api_key', 'tenant' or 'client', got {self.per!r}", path="rate_limit.per")
        if self.on_limit not in ("wait", "reject"):
            raise ConfigError(f"must be 'wait' or 'reject', got {self.on_limit!r}", path="rate_limit.on_limit")


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
            _positive(f"guards.{name}", getattr(self, name))
        if self.injection not in ("block", "flag", "off"):
            raise ConfigError(f"must be 'block', 'flag' or 'off', got {self.injection!r}", path="guards.injection")
        if not 0 < self.injection_threshold <= 1:
            raise ConfigError(
                f"must be within (0, 1], got {self.injection_threshold!r}", path="guards.injection_threshold"
            )
        if self.output_action not in ("block", "flag", "replace"):
            raise ConfigError(
                f"must be 'block', 'flag' or 'replace', got {self.output_action!r}", path="guards.output_action"
            )
        if isinstance(self.blocklist, str):
            raise ConfigError("must be a list of terms, not one string", path="guards.blocklist")


@dataclass(frozen=True, slots=True, kw_only=True)
class Telemetry:
    """Tracing and metrics through opentelemetry-api (no-op until an SDK is installed).

    ``capture_content`` puts prompt and answer text on spans, after PII redaction.
    """

    enabled: bool = True
    capture_content: bool = False
    stats_window: float = 300.0
    metric_labels: Mapping[str, Any] = field(default_factory=dict)
