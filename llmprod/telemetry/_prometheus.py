"""Prometheus metrics (the ``prometheus`` extra): a hook and the ``/metrics`` endpoint.

The only module that imports ``prometheus_client``, and only when a hook or an
endpoint is built. Names follow Prometheus conventions (``llmprod_`` prefix, base
units, ``_total`` counters); labels are bounded: model, deployment, outcome and
similar enumerations, never prompt text, and no tenant or tag values unless asked.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .._core.errors import ConfigError, MissingDependencyError
from .._core.events import (
    AttemptFinished,
    BreakerStateChanged,
    BudgetAlert,
    CacheLookup,
    CallFinished,
    CallStarted,
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

DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise MissingDependencyError("prometheus-client", "prometheus") from exc
    return prometheus_client


@dataclass(slots=True)
class _Families:
    call_labels: tuple[str, ...]
    requests: Any
    errors: Any
    duration: Any
    ttft: Any
    tokens: Any
    cost: Any
    in_flight: Any
    attempts: Any
    cache: Any
    retries: Any
    resumes: Any
    fallbacks: Any
    hedges: Any
    breaker_state: Any
    breaker_transitions: Any
    rate_limit: Any
    guards: Any
    pii: Any
    budget: Any
    feedback: Any
    feedback_score: Any


def _families(pc: Any, registry: Any, call_labels: tuple[str, ...]) -> _Families:
    def counter(name: str, doc: str, labels: Sequence[str]) -> Any:
        return pc.Counter(name, doc, labels, registry=registry)

    by_call = ("model", "deployment", *call_labels)
    return _Families(
        call_labels=call_labels,
        requests=counter("llmprod_requests", "LLM calls, by outcome (ok, cached, error)", (*by_call, "outcome")),
        errors=counter(
            "llmprod_request_errors", "Failed LLM calls, by error type", ("model", "error_type", *call_labels)
        ),
        duration=pc.Histogram(
            "llmprod_request_duration_seconds",
            "LLM call duration, retries and fallbacks included",
            (*by_call, "outcome"),
            registry=registry,
            buckets=DURATION_BUCKETS,
        ),
        ttft=pc.Histogram(
            "llmprod_time_to_first_token_seconds",
            "Time to the first streamed chunk",
            by_call,
            registry=registry,
            buckets=DURATION_BUCKETS,
        ),
        tokens=counter("llmprod_tokens", "Tokens sent and received (cache hits excluded)", (*by_call, "type")),
        cost=counter("llmprod_cost_usd", "Spend on provider calls, in USD", by_call),
        in_flight=pc.Gauge("llmprod_in_flight_requests", "LLM calls in progress", registry=registry),
        attempts=counter("llmprod_attempts", "Attempts at a replica, by outcome", ("deployment", "outcome")),
        cache=counter("llmprod_cache_lookups", "Cache lookups, by outcome", ("outcome",)),
        retries=counter("llmprod_retries", "Retries scheduled", ("deployment", "error_type")),
        resumes=counter(
            "llmprod_stream_resumes", "Broken streams continued (resume=True)", ("deployment", "error_type")
        ),
        fallbacks=counter("llmprod_fallbacks", "Moves to the next deployment", ("from_deployment", "to_deployment")),
        hedges=counter("llmprod_hedges", "Hedged requests sent", ("deployment",)),
        breaker_state=pc.Gauge(
            "llmprod_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ("deployment", "replica"),
            registry=registry,
        ),
        breaker_transitions=counter(
            "llmprod_breaker_transitions",
            "Circuit breaker state changes, by new state",
            ("deployment", "replica", "state"),
        ),
        rate_limit=counter("llmprod_rate_limit_hits", "Local rate limit waits and rejections", ("limit", "rejected")),
        guards=counter(
            "llmprod_guard_triggers", "Guard blocks, flags and replacements", ("guard", "direction", "action")
        ),
        pii=counter("llmprod_pii_redactions", "PII entities redacted, by type", ("entity", "direction")),
        budget=counter("llmprod_budget_alerts", "Budget alerts", ("budget", "kind")),
        feedback=counter("llmprod_feedback", "User feedback received, by label", ("label",)),
        feedback_score=pc.Summary("llmprod_feedback_score", "User feedback scores", registry=registry),
    )


# One set of families per registry: a registry refuses a name registered twice, and
# several clients (or hooks) in one process share the series through their labels.
_by_registry: weakref.WeakKeyDictionary[Any, _Families] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _label_name(tag: str) -> str:
    name = "tag_" + re.sub(r"[^a-zA-Z0-9_]", "_", tag)
    return name


class PrometheusHook:
    """Maintains llmprod's Prometheus metrics from a client's events.

    ``registry`` defaults to ``prometheus_client.REGISTRY`` (what
    :func:`serve_metrics` serves). ``tenant=True`` adds a ``tenant`` label and
    ``tags=("team",)`` a ``tag_team`` label to the per-call metrics: only do so
    when their values are few. Every hook on one registry must use the same labels.
    """

    def __init__(self, *, registry: Any = None, tenant: bool = False, tags: Sequence[str] = ()) -> None:
        pc = _client()
        self.registry = registry if registry is not None else pc.REGISTRY
        self._tenant = tenant
        self._tags = tuple(tags)
        call_labels = (("tenant",) if tenant else ()) + tuple(_label_name(t) for t in self._tags)
        with _lock:
            families = _by_registry.get(self.registry)
            if families is None:
                families = _by_registry[self.registry] = _families(pc, self.registry, call_labels)
        if families.call_labels != call_labels:
            raise ConfigError(
                f"this registry already has llmprod metrics with labels {families.call_labels}, not {call_labels}",
                path="telemetry.prometheus",
            )
        self._f = families
        self._handlers: dict[type, Callable[[Any], None]] = {
            CallStarted: lambda e: self._f.in_flight.inc(),
            CallFinished: self._finished,
            AttemptFinished: lambda e: self._f.attempts.labels(e.record.deployment, e.record.outcome).inc(),
            RetryScheduled: lambda e: self._f.retries.labels(e.deployment, e.error).inc(),
            StreamResumed: lambda e: self._f.resumes.labels(e.deployment, e.error).inc(),
            FallbackUsed: lambda e: self._f.fallbacks.labels(e.failed, e.next).inc(),
            HedgeSent: lambda e: self._f.hedges.labels(e.deployment).inc(),
            BreakerStateChanged: self._breaker,
            CacheLookup: lambda e: self._f.cache.labels(e.outcome).inc(),
            PIIRedacted: self._pii,
            GuardTriggered: lambda e: self._f.guards.labels(e.guard, e.direction, e.action).inc(),
            RateLimitHit: lambda e: self._f.rate_limit.labels(e.limit, str(e.rejected).lower()).inc(),
            BudgetAlert: lambda e: self._f.budget.labels(e.budget, e.kind).inc(),
            Feedback: self._feedback,
        }

    def __repr__(self) -> str:
        return f"PrometheusHook(tenant={self._tenant!r}, tags={self._tags!r})"

    def __call__(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _extra(self, event: CallFinished) -> tuple[str, ...]:
        tenant = (event.tenant or "",) if self._tenant else ()
        return tenant + tuple(event.tags.get(t, "") for t in self._tags)

    def _finished(self, event: CallFinished) -> None:
        f = self._f
        f.in_flight.dec()
        r = event.response
        extra = self._extra(event)
        model = (r.model if r is not None else event.model) or ""
        deployment = r.deployment if r is not None else ""
        outcome = "error" if r is None else "cached" if r.cached else "ok"
        f.requests.labels(model, deployment, *extra, outcome).inc()
        f.duration.labels(model, deployment, *extra, outcome).observe(event.latency)
        if r is None:
            f.errors.labels(model, event.error or "error", *extra).inc()
            return
        if event.ttft is not None:
            f.ttft.labels(model, deployment, *extra).observe(event.ttft)
        if not r.cached:
            f.tokens.labels(model, deployment, *extra, "input").inc(r.usage.prompt_tokens)
            f.tokens.labels(model, deployment, *extra, "output").inc(r.usage.completion_tokens)
        if r.cost:
            f.cost.labels(model, deployment, *extra).inc(r.cost)

    def _breaker(self, event: BreakerStateChanged) -> None:
        self._f.breaker_state.labels(event.deployment, event.replica).set(BREAKER_STATES.get(event.new, 0))
        self._f.breaker_transitions.labels(event.deployment, event.replica, event.new).inc()

    def _pii(self, event: PIIRedacted) -> None:
        for entity, count in event.counts.items():
            self._f.pii.labels(entity, event.direction).inc(count)

    def _feedback(self, event: Feedback) -> None:
        self._f.feedback.labels(event.label or "").inc()
        if event.score is not None:
            self._f.feedback_score.observe(event.score)


class MetricsServer:
    """A running ``/metrics`` HTTP server (a daemon thread); ``close()`` stops it."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.address: str = server.server_address[0]
        self.port: int = server.server_address[1]

    def __repr__(self) -> str:
        return f"MetricsServer(address={self.address!r}, port={self.port})"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def serve_metrics(port: int, addr: str = "127.0.0.1", *, registry: Any = None) -> MetricsServer:
    """Serve ``registry`` (default: prometheus_client's) at ``http://addr:port/metrics``.

    Binds to loopback unless told otherwise; ``port=0`` picks a free port (read it
    from the result's ``port``). Needs the ``prometheus`` extra.
    """
    pc = _client()
    server, thread = pc.start_http_server(port, addr=addr, registry=registry if registry is not None else pc.REGISTRY)
    return MetricsServer(server, thread)


def metrics_asgi_app(registry: Any = None) -> Any:
    """An ASGI app serving the metrics, to mount in your own server (e.g. at ``/metrics``)."""
    pc = _client()
    return pc.make_asgi_app(registry if registry is not None else pc.REGISTRY)


def metrics_wsgi_app(registry: Any = None) -> Any:
    """A WSGI app serving the metrics, to mount in your own server."""
    pc = _client()
    return pc.make_wsgi_app(registry if registry is not None else pc.REGISTRY)
