"""Observability: OpenTelemetry spans and metrics, Prometheus, logging, in-process stats.

This is the only module that imports ``opentelemetry`` (the API; users bring the SDK
and exporters). ``import llmprod`` does not load it: a client loads it when it is
built with telemetry on (the default), or you import it yourself.

What a client does by default (``telemetry=True``):

- the telemetry layer opens one span per call, ``chat {model}`` (kind CLIENT), with
  the OpenTelemetry GenAI semantic conventions (see ``docs/observability.md``);
- :class:`OpenTelemetryHook` records the GenAI client metrics
  (``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``,
  ``gen_ai.client.operation.time_to_first_chunk``) and llmprod's own ``llmprod.*``
  counters, and puts one child span per attempt and one span event per retry,
  fallback, hedge, cache lookup, breaker change, ... on the call's span;
- :class:`LoggingHook` logs one line per call on the ``llmprod`` logger;
- the stats hook answers ``client.stats()``.

Without an OpenTelemetry SDK all of it runs against the API's no-op providers.
Prometheus is opt-in (the ``prometheus`` extra)::

    from llmprod.telemetry import PrometheusHook, serve_metrics
    client = llmprod.Client(hooks=[PrometheusHook()])
    serve_metrics(9464)            # or mount metrics_asgi_app() in your own server
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode

from .._core.config import Telemetry
from .._core.deployment import Deployment
from .._core.errors import LLMProdError
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
from ..layers._routing import SLO_TARGETS
from ._conventions import Conventions, conventions, version
from ._logging import LoggingHook
from ._prometheus import PrometheusHook, metrics_asgi_app, metrics_wsgi_app, serve_metrics
from ._stats import Stats, StatsHook, Summary

if TYPE_CHECKING:
    from .._core.events import Hook

# GenAI semantic-convention attribute names (OpenTelemetry semconv, development status).
OPERATION_NAME = "gen_ai.operation.name"
# A call's operation as GenAI's gen_ai.operation.name (the Responses API is a chat)
OPERATION_NAMES = {"chat": "chat", "embed": "embeddings", "responses": "chat"}
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
TOKEN_TYPE = "gen_ai.token.type"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
CACHED = "llmprod.cached"

CHUNK_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

_CALL_KEY = otel_context.create_key("llmprod.call")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Who a deployment is, in semantic-convention terms."""

    provider: str
    model: str | None = None
    address: str | None = None
    port: int | None = None


def endpoint(backend: object) -> Endpoint:
    """Best-effort provider name, model and server of a backend (duck-typed)."""
    provider = getattr(backend, "provider", None)
    if not isinstance(provider, str):
        provider = type(backend).__name__.lower()
    model = getattr(backend, "model", None)
    address = port = None
    base_url = getattr(backend, "base_url", None)
    if isinstance(base_url, str) and base_url:
        parts = urlsplit(base_url)
        address = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = None
    return Endpoint(provider, model if isinstance(model, str) else None, address, port)


def endpoints(deployments: Sequence[Deployment]) -> dict[str, Endpoint]:
    """Endpoint per deployment label and per replica name (first one wins)."""
    out: dict[str, Endpoint] = {}
    for deployment in deployments:
        for replica in deployment.replicas:
            info = endpoint(replica)
            out.setdefault(deployment.label, info)
            out.setdefault(replica.name, info)
    return out


def tracer(provider: trace.TracerProvider | None = None, *, latest: bool | None = None) -> trace.Tracer:
    """llmprod's tracer (a proxy: it follows the global provider once one is set), with
    llmprod's version and the schema URL of the conventions it follows as its scope."""
    chosen = conventions() if latest is None else Conventions(latest)
    return trace.get_tracer("llmprod", version(), tracer_provider=provider, schema_url=chosen.schema_url)


def meter(provider: metrics.MeterProvider | None = None) -> metrics.Meter:
    """llmprod's meter, with the same scope as its tracer."""
    schema_url = conventions().schema_url
    if provider is None:
        return metrics.get_meter("llmprod", version(), schema_url=schema_url)
    return provider.get_meter("llmprod", version(), schema_url=schema_url)


CallSpan = Span


def start_call_span(tracer: trace.Tracer, name: str, attributes: Mapping[str, Any]) -> Span:
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


def sdk_installed() -> bool:
    """Whether an OpenTelemetry SDK (a real tracer or meter provider) is configured.

    Read on every call, so it is two global reads: without an SDK, llmprod makes no
    OpenTelemetry API call at all. A provider once set cannot be replaced (the API
    refuses), so a positive answer is final.
    """
    global _sdk
    if _sdk:
        return True
    tracer_provider = getattr(trace, "_TRACER_PROVIDER", None)
    meter_provider = getattr(metrics_internal, "_METER_PROVIDER", None)
    _sdk = _real(tracer_provider, trace.NoOpTracerProvider) or _real(meter_provider, metrics.NoOpMeterProvider)
    return _sdk


def _real(provider: object, noop: type) -> bool:
    return provider is not None and not isinstance(provider, noop)


_sdk = False

# The spans of the calls in progress, by call id: the hooks put attempt spans and span
# events on them (at the end of a stream too, when the span is no longer current).
_open_calls: dict[str, Span] = {}


class ActiveCall:
    """Makes a call's span current (and marks the context as an llmprod call), and
    registers it under the call's id until :func:`release_call`."""

    __slots__ = ("_context", "_token")

    def __init__(self, span: Span, call_id: str) -> None:
        self._context = otel_context.set_value(_CALL_KEY, call_id, trace.set_span_in_context(span))
        self._token: object = None
        _open_calls[call_id] = span

    def __enter__(self) -> None:
        self._token = otel_context.attach(self._context)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]


def release_call(call_id: str) -> None:
    _open_calls.pop(call_id, None)


def fail_span(span: Span, exc: BaseException) -> None:
    """``error.type`` and status; the message only for llmprod's own (PII-free) errors."""
    kind = "CancelledError" if isinstance(exc, GeneratorExit) else type(exc).__name__
    span.set_attribute(ERROR_TYPE, kind)
    if isinstance(exc, LLMProdError):
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{kind}: {exc}"))
    else:
        span.add_event("exception", {"exception.type": kind})
        span.set_status(Status(StatusCode.ERROR, kind))


_calls: collections.OrderedDict[str, SpanContext] = collections.OrderedDict()
_CALLS_KEPT = 10_000


_calls_lock = threading.Lock()


def remember_call(response_id: str, span: Span) -> None:
    """Keep the span context of a recent response, so feedback can link to it."""
    with _calls_lock:  # clients on several loop threads share it
        _calls[response_id] = span.get_span_context()
        if len(_calls) > _CALLS_KEPT:
            _calls.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Instruments:
    duration: metrics.Histogram
    tokens: metrics.Histogram
    ttft: metrics.Histogram
    chunk_gap: metrics.Histogram
    cost: metrics.Counter
    in_flight: metrics.UpDownCounter
    attempts: metrics.Counter
    cache: metrics.Counter
    retries: metrics.Counter
    resumes: metrics.Counter
    fallbacks: metrics.Counter
    hedges: metrics.Counter
    breaker: metrics.Counter
    rate_limit: metrics.Counter
    guards: metrics.Counter
    pii: metrics.Counter
    budget: metrics.Counter
    feedback: metrics.Counter
    feedback_score: metrics.Histogram


def _instruments(meter: metrics.Meter) -> _Instruments:
    counter = meter.create_counter
    return _Instruments(
        duration=meter.create_histogram(
            "gen_ai.client.operation.duration",
            "s",
            "GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        tokens=meter.create_histogram(
            "gen_ai.client.token.usage",
            "{token}",
            "Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        ),
        ttft=meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time to the first streamed chunk",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        chunk_gap=meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            "s",
            "Time per output chunk, for each chunk after the first: from the end of the previous one",
            explicit_bucket_boundaries_advisory=CHUNK_BUCKETS,
        ),
        cost=counter("llmprod.client.cost", "USD", "Spend on provider calls"),
        in_flight=meter.create_up_down_counter("llmprod.client.requests.in_flight", "{request}", "Calls in progress"),
        attempts=counter("llmprod.attempts", "{attempt}", "Attempts at a replica, by outcome"),
        cache=counter("llmprod.cache.lookups", "{lookup}", "Cache lookups, by outcome"),
        retries=counter("llmprod.retries", "{retry}", "Retries scheduled"),
        resumes=counter("llmprod.stream.resumes", "{resume}", "Broken streams continued (resume=True)"),
        fallbacks=counter("llmprod.fallbacks", "{fallback}", "Moves to the next deployment"),
        hedges=counter("llmprod.hedges", "{request}", "Hedged requests sent"),
        breaker=counter("llmprod.breaker.transitions", "{transition}", "Circuit breaker state changes"),
        rate_limit=counter("llmprod.rate_limit.hits", "{hit}", "Local rate limit waits and rejections"),
        guards=counter("llmprod.guard.triggers", "{trigger}", "Guard blocks, flags and replacements"),
        pii=counter("llmprod.pii.redactions", "{entity}", "PII entities redacted, by type"),
        budget=counter("llmprod.budget.alerts", "{alert}", "Budget alerts"),
        feedback=counter("llmprod.feedback", "{feedback}", "User feedback received, by label"),
        feedback_score=meter.create_histogram("llmprod.feedback.score", "1", "User feedback scores"),
    )


_global_instruments: _Instruments | None = None


def _global() -> _Instruments:
    global _global_instruments
    if _global_instruments is None:
        _global_instruments = _instruments(meter())
    return _global_instruments


class OpenTelemetryHook:
    """Metrics for every event, and span events / attempt spans on the current call span.

    ``meter_provider`` and ``tracer_provider`` default to the global ones (no-op until
    an SDK is installed). ``labels`` are constant attributes added to every metric.
    A client with telemetry on has one already; a second one, for another meter
    provider, should pass ``spans=False`` so that span events are not doubled.
    """

    def __init__(
        self,
        deployments: Sequence[Deployment] = (),
        *,
        labels: Mapping[str, Any] | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        spans: bool = True,
    ) -> None:
        self._spans = spans
        self._given = meter_provider is not None or tracer_provider is not None
        self._m = _global() if meter_provider is None else _instruments(meter(meter_provider))
        self._provider_key = conventions().provider_key
        self._tracer = tracer(tracer_provider)
        self._labels = dict(labels or {})
        self._endpoints = endpoints(deployments)
        self._primary = next(iter(self._endpoints.values()), Endpoint("llmprod"))
        self._handlers: dict[type, Callable[[Any], None]] = {
            CallStarted: self._started,
            CallFinished: self._finished,
            AttemptFinished: self._attempt,
            RetryScheduled: self._retry,
            StreamResumed: self._resume,
            FallbackUsed: self._fallback,
            HedgeSent: self._hedge,
            BreakerStateChanged: self._breaker,
            CacheLookup: self._cache,
            PIIRedacted: self._pii,
            GuardTriggered: self._guard,
            RateLimitHit: self._rate_limit,
            BudgetAlert: self._budget,
            Feedback: self._feedback,
        }

    def __repr__(self) -> str:
        return f"OpenTelemetryHook(deployments={list(self._endpoints)!r})"

    def __call__(self, event: Event) -> None:
        if not (self._given or sdk_installed()):
            return  # every instrument and span would be a no-op
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _attrs(self, **extra: Any) -> dict[str, Any]:
        return {**self._labels, **{k.replace("__", "."): v for k, v in extra.items() if v is not None}}

    def _span(self, call_id: str | None = None) -> Span | None:
        """The span of call ``call_id`` (else the current llmprod call span), when it records."""
        if not self._spans:
            return None
        span = _open_calls.get(call_id) if call_id is not None else None
        if span is None:
            if otel_context.get_value(_CALL_KEY) is None:
                return None
            span = trace.get_current_span()
        return span if span.is_recording() else None

    def _event(self, name: str, attributes: Mapping[str, Any], call_id: str | None = None) -> None:
        span = self._span(call_id)
        if span is not None:
            span.add_event(name, {k: v for k, v in attributes.items() if v is not None})

    def _started(self, event: CallStarted) -> None:
        self._m.in_flight.add(1, self._labels)

    def _finished(self, event: CallFinished) -> None:
        self._m.in_flight.add(-1, self._labels)
        response = event.response
        answered = self._endpoints.get(response.deployment, self._primary) if response else self._primary
        attrs: dict[str, Any] = {
            **self._labels,
            OPERATION_NAME: OPERATION_NAMES.get(event.operation, "chat"),
            self._provider_key: answered.provider,
            REQUEST_MODEL: event.model or self._primary.model or "unknown",
        }
        if answered.address:
            attrs[SERVER_ADDRESS] = answered.address
            if answered.port is not None:
                attrs[SERVER_PORT] = answered.port
        if response is None:
            attrs[ERROR_TYPE] = event.error or "error"
        else:
            attrs[RESPONSE_MODEL] = response.model
        # A cache hit answers in microseconds: marked, so it can be told apart from provider calls.
        self._m.duration.record(event.latency, {**attrs, CACHED: response is not None and response.cached})
        if response is None:
            return
        if event.ttft is not None:
            self._m.ttft.record(event.ttft, attrs)
        for gap in event.chunk_gaps:
            self._m.chunk_gap.record(gap, attrs)
        if not response.cached:
            usage = response.usage
            self._m.tokens.record(usage.prompt_tokens, {**attrs, TOKEN_TYPE: "input"})
            self._m.tokens.record(usage.completion_tokens, {**attrs, TOKEN_TYPE: "output"})
        if response.cost:
            self._m.cost.add(response.cost, {**attrs, "llmprod.deployment": response.deployment})

    def _attempt(self, event: AttemptFinished) -> None:
        record = event.record
        self._m.attempts.add(
            1, self._attrs(llmprod__deployment=record.deployment, llmprod__attempt__outcome=record.outcome)
        )
        parent = self._span(event.call_id)
        if parent is None:
            return
        end = time.time_ns()
        span = self._tracer.start_span(
            f"attempt {record.deployment}",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.INTERNAL,
            start_time=end - int(record.latency * 1e9),
            attributes={
                "llmprod.deployment": record.deployment,
                "llmprod.replica": record.replica,
                "llmprod.attempt.outcome": record.outcome,
                "llmprod.attempt.hedge": record.hedge,
            },
        )
        if record.error is not None:
            span.set_attribute(ERROR_TYPE, record.error)
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end(end_time=end)

    def _retry(self, event: RetryScheduled) -> None:
        self._m.retries.add(1, self._attrs(llmprod__deployment=event.deployment, error__type=event.error))
        self._event(
            "llmprod.retry",
            {
                "llmprod.deployment": event.deployment,
                "llmprod.retry.attempt": event.attempt,
                "llmprod.retry.delay": event.delay,
                ERROR_TYPE: event.error,
            },
            event.call_id,
        )

    def _resume(self, event: StreamResumed) -> None:
        self._m.resumes.add(1, self._attrs(llmprod__deployment=event.deployment, error__type=event.error))
        self._event(
            "llmprod.resume",
            {
                "llmprod.deployment": event.deployment,
                "llmprod.resume.attempt": event.attempt,
                "llmprod.resume.received_chars": event.received,
                ERROR_TYPE: event.error,
            },
            event.call_id,
        )

    def _fallback(self, event: FallbackUsed) -> None:
        attrs = {"llmprod.fallback.from": event.failed, "llmprod.fallback.to": event.next, ERROR_TYPE: event.error}
        self._m.fallbacks.add(1, {**self._labels, **attrs})
        self._event("llmprod.fallback", attrs, event.call_id)

    def _hedge(self, event: HedgeSent) -> None:
        attrs = {"llmprod.deployment": event.deployment, "llmprod.replica": event.replica}
        self._m.hedges.add(1, {**self._labels, "llmprod.deployment": event.deployment})
        self._event("llmprod.hedge", attrs, event.call_id)

    def _breaker(self, event: BreakerStateChanged) -> None:
        attrs = {
            "llmprod.deployment": event.deployment,
            "llmprod.replica": event.replica,
            "llmprod.breaker.state": event.new,
        }
        self._m.breaker.add(1, {**self._labels, **attrs})
        self._event("llmprod.breaker", {**attrs, "llmprod.breaker.previous_state": event.old})

    def _cache(self, event: CacheLookup) -> None:
        self._m.cache.add(1, self._attrs(llmprod__cache__outcome=event.outcome))
        self._event(
            "llmprod.cache",
            {"llmprod.cache.outcome": event.outcome, "llmprod.cache.saved_tokens": event.saved_tokens},
            event.call_id,
        )

    def _pii(self, event: PIIRedacted) -> None:
        for kind, count in event.counts.items():
            self._m.pii.add(count, self._attrs(llmprod__pii__type=kind, llmprod__pii__direction=event.direction))
        self._event(
            "llmprod.pii.redacted",
            {
                "llmprod.pii.direction": event.direction,
                **{f"llmprod.pii.{k.lower()}": v for k, v in event.counts.items()},
            },
            event.call_id,
        )

    def _guard(self, event: GuardTriggered) -> None:
        attrs = {
            "llmprod.guard": event.guard,
            "llmprod.guard.direction": event.direction,
            "llmprod.guard.action": event.action,
        }
        self._m.guards.add(1, {**self._labels, **attrs})
        self._event("llmprod.guard", attrs, event.call_id)  # the reason may quote content: never on a span

    def _rate_limit(self, event: RateLimitHit) -> None:
        attrs: dict[str, Any] = {"llmprod.rate_limit.limit": event.limit, "llmprod.rate_limit.rejected": event.rejected}
        self._m.rate_limit.add(1, {**self._labels, **attrs})
        self._event("llmprod.rate_limit", {**attrs, "llmprod.rate_limit.waited": event.waited}, event.call_id)

    def _budget(self, event: BudgetAlert) -> None:
        attrs = {"llmprod.budget": event.budget, "llmprod.budget.kind": event.kind}
        self._m.budget.add(1, {**self._labels, **attrs})
        self._event(
            "llmprod.budget", {**attrs, "llmprod.budget.spent": event.spent, "llmprod.budget.limit": event.limit}
        )

    def _feedback(self, event: Feedback) -> None:
        label_attrs = self._attrs(llmprod__feedback__label=event.label)
        self._m.feedback.add(1, label_attrs)
        if event.score is not None:
            self._m.feedback_score.record(event.score, label_attrs)
        if not self._spans:
            return
        with _calls_lock:
            linked = _calls.get(event.response_id)
        span = self._tracer.start_span(
            "llmprod feedback", kind=SpanKind.INTERNAL, links=[Link(linked)] if linked is not None else None
        )
        span.add_event(
            "llmprod.feedback",
            {
                k: v
                for k, v in {
                    RESPONSE_ID: event.response_id,
                    "llmprod.feedback.score": event.score,
                    "llmprod.feedback.label": event.label,
                }.items()
                if v is not None
            },
        )
        span.end()


def default_hooks(config: Telemetry, deployments: Sequence[Deployment]) -> list[Hook]:
    """The hooks a client with telemetry on registers: OpenTelemetry and logging."""
    return [OpenTelemetryHook(deployments, labels=config.metric_labels), LoggingHook()]


__all__ = [
    "SLO_TARGETS",
    "Endpoint",
    "LoggingHook",
    "OpenTelemetryHook",
    "PrometheusHook",
    "Stats",
    "StatsHook",
    "Summary",
    "default_hooks",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "serve_metrics",
]
