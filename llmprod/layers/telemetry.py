"""The telemetry layer, outermost: one OpenTelemetry span per call.

The span is ``chat {model}``, kind CLIENT, with the GenAI semantic-convention
attributes (operation, provider, request and response model, usage, finish
reasons, server address, ``error.type``). It is the current span while the layers
below run, so the attempt spans and span events that
:class:`llmprod.telemetry.OpenTelemetryHook` adds (retry, fallback, hedge, cache,
breaker, ...) and the spans of instrumented libraries nest under it. A stream makes
it current one step at a time, never across a ``yield``.

Content (prompt and answer) goes on the span only with ``capture_content=True``.
This layer sits outside the PII layer and never sees the text the provider saw, so
it redacts its own copy with :func:`llmprod.pii.redact` (every detector, mask mode)
whatever the client's PII settings; if the detectors cannot be loaded it captures
nothing. Without an OpenTelemetry SDK the spans are the API's no-op spans and no
attribute is computed.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .._core.backend import Backend, Emit
from .._core.config import Telemetry
from .._core.deployment import Deployment
from .._core.models import ChatChunk, ChatRequest, ChatResponse
from ..telemetry._otel import (
    CACHE_READ_TOKENS,
    FINISH_REASONS,
    INPUT_MESSAGES,
    INPUT_TOKENS,
    OPERATION_NAME,
    OUTPUT_MESSAGES,
    OUTPUT_TOKENS,
    PROVIDER_NAME,
    REQUEST_MAX_TOKENS,
    REQUEST_MODEL,
    REQUEST_SEED,
    REQUEST_STOP,
    REQUEST_TEMPERATURE,
    REQUEST_TOP_P,
    RESPONSE_ID,
    RESPONSE_MODEL,
    SERVER_ADDRESS,
    SERVER_PORT,
    ActiveCall,
    CallSpan,
    Endpoint,
    endpoints,
    fail_span,
    remember_call,
    start_call_span,
    tracer,
)

log = logging.getLogger("llmprod")


class TelemetryLayer:
    """Opens, annotates and ends the call's span."""

    def __init__(
        self, inner: Backend, config: Telemetry, emit: Emit, *, deployments: Sequence[Deployment] = ()
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.config = config
        self._tracer = tracer()
        self._endpoints = endpoints(deployments)
        self._primary = next(iter(self._endpoints.values()), Endpoint("llmprod"))
        self._redact = _redactor() if config.capture_content else None

    def _start(self, request: ChatRequest, *, stream: bool) -> CallSpan:
        model = request.model or self._primary.model
        attributes: dict[str, Any] = {OPERATION_NAME: "chat", PROVIDER_NAME: self._primary.provider}
        if model:
            attributes[REQUEST_MODEL] = model
        span = start_call_span(self._tracer, f"chat {model}" if model else "chat", attributes)
        if span.is_recording():
            span.set_attributes(_request_attributes(request, self._primary, stream))
            if self._redact is not None:
                span.set_attribute(INPUT_MESSAGES, _input_messages(request, self._redact))
        return span

    def _end(self, span: CallSpan, request: ChatRequest, response: ChatResponse | None) -> None:
        if span.is_recording():
            trace = request.trace
            if trace is not None:
                span.set_attribute("llmprod.attempts", len(trace.attempts))
                if trace.first_token_at is not None:
                    span.set_attribute("llmprod.time_to_first_chunk", trace.first_token_at - trace.started)
            if response is not None:
                answered = self._endpoints.get(response.deployment, self._primary)
                span.set_attributes(_response_attributes(response, answered))
                remember_call(response.id, span)
                if self._redact is not None:
                    span.set_attribute(OUTPUT_MESSAGES, _output_messages(response, self._redact))
        span.end()

    def _failed(self, span: CallSpan, request: ChatRequest, exc: BaseException) -> None:
        fail_span(span, exc)
        self._end(span, request, None)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        span = self._start(request, stream=False)
        try:
            with ActiveCall(span, _call_id(request)):
                response = await self.inner.complete(request)
        except BaseException as exc:
            self._failed(span, request, exc)
            raise
        self._end(span, request, response)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        span = self._start(request, stream=True)
        active = ActiveCall(span, _call_id(request))
        inner = self.inner.stream(request)
        final: ChatResponse | None = None
        try:
            while True:
                with active:
                    try:
                        chunk = await anext(inner)
                    except StopAsyncIteration:
                        break
                if chunk.response is not None:
                    final = chunk.response
                yield chunk
        except BaseException as exc:
            self._failed(span, request, exc)
            raise
        finally:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                with active:
                    await aclose()
        self._end(span, request, final)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _call_id(request: ChatRequest) -> str:
    return request.trace.call_id if request.trace is not None else ""


def _request_attributes(request: ChatRequest, primary: Endpoint, stream: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {"llmprod.stream": stream}
    if request.trace is not None:
        attributes["llmprod.call_id"] = request.trace.call_id
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


def _response_attributes(response: ChatResponse, answered: Endpoint) -> dict[str, Any]:
    usage = response.usage
    attributes: dict[str, Any] = {
        PROVIDER_NAME: answered.provider,
        RESPONSE_MODEL: response.model,
        RESPONSE_ID: response.id,
        INPUT_TOKENS: usage.prompt_tokens,
        OUTPUT_TOKENS: usage.completion_tokens,
        "llmprod.deployment": response.deployment,
        "llmprod.cached": response.cached,
    }
    if response.finish_reason is not None:
        attributes[FINISH_REASONS] = [response.finish_reason]
    if usage.cached_tokens:
        attributes[CACHE_READ_TOKENS] = usage.cached_tokens
    if response.cost is not None:
        attributes["llmprod.cost"] = response.cost
    if response.stale:
        attributes["llmprod.cache.stale"] = True
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
