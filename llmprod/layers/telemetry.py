"""The telemetry layer, outermost: one OpenTelemetry span per call.

The span is ``chat {model}`` (``embeddings {model}`` for embeddings), kind CLIENT, with the GenAI semantic-convention
attributes (operation, provider, request and response model, usage, finish
reasons, server address, ``error.type``). It is the current span while the layers
below run, so the attempt spans and span events that
:class:`llmprod.telemetry.OpenTelemetryHook` adds (retry, fallback, hedge, cache,
breaker, ...) and the spans of instrumented libraries nest under it. After the call
opened, the hooks find the span by the call's id (attempt spans and span events at the
end of a stream), so nothing is attached or detached per chunk.

Content (prompt and answer) goes on the span only with ``capture_content=True``.
This layer sits outside the PII layer and never sees the text the provider saw, so
it redacts its own copy with :func:`llmprod.pii.redact` (every detector, mask mode)
whatever the client's PII settings; if the detectors cannot be loaded it captures
nothing. Without an OpenTelemetry SDK the layer does nothing at all: no API call is made.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .._core.call import Call, Layer, Opened
from .._core.clock import now
from .._core.config import Telemetry
from .._core.deployment import Deployment
from .._core.events import Emit
from .._core.models import ChatChunk, ChatRequest, ChatResponse
from ..telemetry._conventions import conventions
from ..telemetry._otel import (
    CACHE_READ_TOKENS,
    FINISH_REASONS,
    INPUT_MESSAGES,
    INPUT_TOKENS,
    OPERATION_NAME,
    OPERATION_NAMES,
    OUTPUT_MESSAGES,
    OUTPUT_TOKENS,
    REQUEST_MAX_TOKENS,
    REQUEST_MODEL,
    REQUEST_SEED,
    REQUEST_STOP,
    REQUEST_STREAM,
    REQUEST_TEMPERATURE,
    REQUEST_TOP_P,
    RESPONSE_ID,
    RESPONSE_MODEL,
    RESPONSE_TIME_TO_FIRST_CHUNK,
    SERVER_ADDRESS,
    SERVER_PORT,
    ActiveCall,
    CallSpan,
    Endpoint,
    endpoints,
    fail_span,
    release_call,
    remember_call,
    sdk_installed,
    start_call_span,
    tracer,
)

log = logging.getLogger("llmprod")


class TelemetryLayer(Layer):
    """Opens, annotates and ends the call's span (only when an OpenTelemetry SDK records)."""

    def __init__(self, inner: Layer, config: Telemetry, emit: Emit, *, deployments: Sequence[Deployment] = ()) -> None:
        super().__init__(inner)
        self.config = config
        self._conventions = conventions()
        self._tracer = tracer(latest=self._conventions.latest)
        self._endpoints = endpoints(deployments)
        self._primary = next(iter(self._endpoints.values()), Endpoint("llmprod"))
        self._redact = _redactor() if config.capture_content else None

    def _start(self, call: Call) -> CallSpan:
        request = call.request
        model = request.model or self._primary.model
        operation = "chat" if call.operation == "chat" else OPERATION_NAMES[call.operation]
        attributes: dict[str, Any] = {OPERATION_NAME: operation, self._conventions.provider_key: self._primary.provider}
        if model:
            attributes[REQUEST_MODEL] = model
        if call.operation != "chat":
            attributes["llmprod.operation"] = call.operation
        span = start_call_span(self._tracer, f"{operation} {model}" if model else operation, attributes)
        if span.is_recording():
            span.set_attributes(_request_attributes(call, self._primary))
            if self._conventions.latest:
                span.set_attribute(REQUEST_STREAM, call.stream)
            if self._redact is not None:
                span.set_attribute(INPUT_MESSAGES, _input_messages(request, self._redact))
        return span

    async def open(self, call: Call) -> Opened:
        if not sdk_installed():  # the API's spans would all be no-ops: skip them entirely
            return await self.inner.open(call)
        span = self._start(call)
        active = ActiveCall(span, call.id)
        try:
            with active:
                opened = await self.inner.open(call)
        except BaseException as exc:
            fail_span(span, exc)
            span.end()
            release_call(call.id)
            raise
        if opened.first is not None:
            first = now() - call.started
            if span.is_recording():
                span.set_attribute("llmprod.time_to_first_chunk", first)
                if self._conventions.latest:
                    span.set_attribute(RESPONSE_TIME_TO_FIRST_CHUNK, first)
            if opened.rest is not None:
                opened.chunk_gaps = []
                opened.rest = _timed(opened.rest, opened.chunk_gaps)
        opened.on_close(self, (span, call))
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        span, call = state
        try:
            if error is not None:
                fail_span(span, error)
            if span.is_recording():
                span.set_attribute("llmprod.attempts", len(opened.attempts))
                if error is None and opened.response is not None:
                    response = opened.annotated()
                    answered = self._endpoints.get(response.deployment, self._primary)
                    attributes = _response_attributes(response, answered, self._conventions.provider_key)
                    attributes["llmprod.cached"] = opened.cached
                    if opened.stale:
                        attributes["llmprod.cache.stale"] = True
                    span.set_attributes(attributes)
                    remember_call(response.id, span)
                    if self._redact is not None and call.operation != "embed":
                        span.set_attribute(OUTPUT_MESSAGES, _output_messages(response, self._redact))
        finally:
            span.end()
            release_call(call.id)


def _request_attributes(call: Call, primary: Endpoint) -> dict[str, Any]:
    request = call.request
    attributes: dict[str, Any] = {"llmprod.stream": call.stream, "llmprod.call_id": call.id}
    for key, value in (
        (REQUEST_MAX_TOKENS, request.max_tokens),
        (REQUEST_TEMPERATURE, request.temperature),
        (REQUEST_TOP_P, request.top_p),
        (REQUEST_SEED, request.seed),
        (REQUEST_STOP, list(request.stop) if request.stop else None),
        ("llmprod.slo", request.metadata.slo),
        (SERVER_ADDRESS, primary.address),
        (SERVER_PORT, primary.port),
    ):
        if value is not None:
            attributes[key] = value
    return attributes


async def _timed(rest: AsyncIterator[ChatChunk], gaps: list[float]) -> AsyncIterator[ChatChunk]:
    """The stream, noting the seconds from the end of one chunk to the end of the next
    (``gen_ai.client.operation.time_per_output_chunk``)."""
    last = now()
    try:
        async for chunk in rest:
            at = now()
            gaps.append(at - last)
            last = at
            yield chunk
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()


def _response_attributes(response: ChatResponse, answered: Endpoint, provider_key: str) -> dict[str, Any]:
    usage = response.usage
    attributes: dict[str, Any] = {
        provider_key: answered.provider,
        RESPONSE_MODEL: response.model,
        RESPONSE_ID: response.id,
        INPUT_TOKENS: usage.prompt_tokens,
        OUTPUT_TOKENS: usage.completion_tokens,
        "llmprod.deployment": response.deployment,
    }
    if response.finish_reason is not None:
        attributes[FINISH_REASONS] = [response.finish_reason]
    if usage.cached_tokens:
        attributes[CACHE_READ_TOKENS] = usage.cached_tokens
    if response.cost is not None:
        attributes["llmprod.cost"] = response.cost
    if answered.address is not None:
        attributes[SERVER_ADDRESS] = answered.address
        if answered.port is not None:
            attributes[SERVER_PORT] = answered.port
    return attributes


Redact = Callable[[str], str]


def _redactor() -> Redact | None:
    try:
        redact = importlib.import_module("llmprod.pii").redact
    except (ImportError, AttributeError):
        log.warning("llmprod: capture_content is on but llmprod.pii cannot be loaded; no content is captured")
        return None
    return redact  # type: ignore[no-any-return]


def _parts(text: str, redact: Redact) -> list[Mapping[str, str]]:
    return [{"type": "text", "content": redact(text)}] if text else []


def _input_messages(request: ChatRequest, redact: Redact) -> str:
    return json.dumps([{"role": m.role, "parts": _parts(m.text(), redact)} for m in request.messages])


def _output_messages(response: ChatResponse, redact: Redact) -> str:
    message = {"role": "assistant", "parts": _parts(response.text, redact), "finish_reason": response.finish_reason}
    return json.dumps([message])
