"""The call span: GenAI attributes, attempt spans and span events, errors, streams, content."""

from __future__ import annotations

import importlib
import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llmprod
from llmprod import AsyncClient, Cache, Retry
from llmprod.backends.openai import OpenAICompatible
from llmprod.errors import AuthenticationError, ServerError
from llmprod.testing import FakeBackend, Fault, FaultServer

NO_RETRY = {"retry": None, "breaker": None}


def call_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    calls = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(calls) == 1, [s.name for s in exporter.get_finished_spans()]
    return calls[0]


def children(exporter: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s for s in exporter.get_finished_spans() if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def events(span: ReadableSpan, name: str) -> list[dict[str, object]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


def no_content(span: ReadableSpan) -> None:
    attributes = dict(span.attributes or {})
    assert "gen_ai.input.messages" not in attributes
    assert "gen_ai.output.messages" not in attributes
    for value in attributes.values():
        assert "secret plan" not in str(value)


async def test_success_span_has_genai_attributes(spans: InMemorySpanExporter) -> None:
    backend = FakeBackend(lambda r: "four words of answer", name="primary", model="m-1")
    async with AsyncClient(backend, **NO_RETRY) as client:
        r = await client.chat("the secret plan", model="m-1", max_tokens=50, temperature=0.0, seed=7)
    span = call_span(spans)
    a = dict(span.attributes or {})
    assert span.name == "chat m-1"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.system"] == "fakebackend"  # the v1.36.0 name, by default (see test_conventions.py)
    assert a["gen_ai.request.model"] == "m-1"
    assert a["gen_ai.response.model"] == "m-1"
    assert a["gen_ai.response.id"] == r.id
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == 4
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.temperature"] == 0.0
    assert a["gen_ai.request.seed"] == 7
    assert a["llmprod.deployment"] == "primary"
    assert a["llmprod.attempts"] == 1
    assert a["llmprod.stream"] is False
    assert "error.type" not in a
    assert span.status.status_code is StatusCode.UNSET
    attempt = children(spans, span)
    assert [s.name for s in attempt] == ["attempt primary"]
    assert attempt[0].attributes is not None and attempt[0].attributes["llmprod.attempt.outcome"] == "ok"
    no_content(span)


async def test_server_address_from_an_http_backend(spans: InMemorySpanExporter, fault_server: FaultServer) -> None:
    backend = OpenAICompatible(base_url=fault_server.url, model="served-model", api_key="sk-test-not-a-secret")
    async with AsyncClient(backend, **NO_RETRY) as client:
        await client.chat("hello")
    a = dict(call_span(spans).attributes or {})
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == fault_server.port
    assert a["gen_ai.request.model"] == "served-model"
    assert "sk-test-not-a-secret" not in repr(a)


async def test_error_sets_error_type_and_status(spans: InMemorySpanExporter) -> None:
    backend = FakeBackend(lambda r: AuthenticationError("bad key", status=401), name="primary")
    async with AsyncClient(backend, **NO_RETRY) as client:
        with pytest.raises(AuthenticationError):
            await client.chat("the secret plan")
    span = call_span(spans)
    a = dict(span.attributes or {})
    assert a["error.type"] == "AuthenticationError"
    assert span.status.status_code is StatusCode.ERROR
    assert "gen_ai.response.model" not in a
    assert [e.name for e in span.events] == ["exception"]
    (attempt,) = children(spans, span)
    assert attempt.attributes is not None and attempt.attributes["error.type"] == "AuthenticationError"
    no_content(span)


async def test_retries_show_as_attempt_spans_and_events(spans: InMemorySpanExporter) -> None:
    pytest.importorskip("llmprod.layers.retry")
    backend = FakeBackend(
        lambda r: ServerError("busy", status=503) if len(backend.requests) < 3 else "ok at last", name="flaky"
    )
    async with AsyncClient(backend, retry=Retry(attempts=3, initial=0.0, maximum=0.0), breaker=None) as client:
        r = await client.chat("hello")
    assert r.attempts == 3
    span = call_span(spans)
    assert dict(span.attributes or {})["llmprod.attempts"] == 3
    retries = events(span, "llmprod.retry")
    assert [e["llmprod.retry.attempt"] for e in retries] == [1, 2]
    assert {e["error.type"] for e in retries} == {"ServerError"}
    outcomes = [dict(s.attributes or {})["llmprod.attempt.outcome"] for s in children(spans, span)]
    assert outcomes == ["error", "error", "ok"]


async def test_a_resumed_stream_shows_a_resume_event(spans: InMemorySpanExporter, fault_server: FaultServer) -> None:
    backend = OpenAICompatible.preset("vllm", base_url=fault_server.url, model="m")
    async with AsyncClient(backend, resume=True, **NO_RETRY) as client:
        fault_server.push(Fault.cut(after=3))  # the role frame and two words
        texts = [chunk.text async for chunk in client.stream("tell me a story")]
    span = call_span(spans)
    words = [t for t in texts if t]
    assert events(span, "llmprod.resume") == [
        {
            "llmprod.deployment": backend.name,
            "llmprod.resume.attempt": 1,
            "llmprod.resume.received_chars": len("".join(words[:2])),
            "error.type": "ProviderConnectionError",
        }
    ]


async def test_fallback_event_and_answering_deployment(spans: InMemorySpanExporter) -> None:
    first = FakeBackend(lambda r: ServerError("down", status=503), name="first", model="big")
    second = FakeBackend(lambda r: "from the second", name="second", model="small")
    async with AsyncClient([first, second], **NO_RETRY) as client:
        r = await client.chat("hello")
    assert r.deployment == "second"
    span = call_span(spans)
    a = dict(span.attributes or {})
    assert span.name == "chat big"  # the primary's model names the span
    assert a["gen_ai.response.model"] == "small"
    assert a["llmprod.deployment"] == "second"
    assert events(span, "llmprod.fallback") == [
        {"llmprod.fallback.from": "first", "llmprod.fallback.to": "second", "error.type": "ServerError"}
    ]
    assert [s.name for s in children(spans, span)] == ["attempt first", "attempt second"]


async def test_cache_hit_is_marked(spans: InMemorySpanExporter) -> None:
    pytest.importorskip("llmprod.layers.cache")
    backend = FakeBackend(lambda r: "cached answer", name="primary")
    async with AsyncClient(backend, cache=Cache(ttl=60), **NO_RETRY) as client:
        await client.chat("same question", temperature=0)
        spans.clear()
        r = await client.chat("same question", temperature=0)
    assert r.cached
    span = call_span(spans)
    a = dict(span.attributes or {})
    assert a["llmprod.cached"] is True
    assert a["llmprod.attempts"] == 0
    assert [e["llmprod.cache.outcome"] for e in events(span, "llmprod.cache")] == ["hit"]
    assert children(spans, span) == []
    assert len(backend.requests) == 1


async def test_stream_span(spans: InMemorySpanExporter) -> None:
    backend = FakeBackend(lambda r: "one two three", name="primary", model="m-s")
    async with AsyncClient(backend, **NO_RETRY) as client:
        chunks = [c async for c in client.stream("the secret plan")]
        # The span ends with the stream, after the last chunk: not before.
    final = chunks[-1].response
    assert final is not None
    span = call_span(spans)
    a = dict(span.attributes or {})
    assert a["llmprod.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.output_tokens"] == final.usage.completion_tokens
    assert a["gen_ai.response.id"] == final.id
    assert 0 <= float(a["llmprod.time_to_first_chunk"]) <= final.latency  # type: ignore[arg-type]
    assert [s.name for s in children(spans, span)] == ["attempt primary"]
    no_content(span)


async def test_stream_abandoned_ends_span_as_cancelled(spans: InMemorySpanExporter) -> None:
    backend = FakeBackend(lambda r: "one two three four", name="primary")
    async with AsyncClient(backend, **NO_RETRY) as client:
        stream = client.stream("hello")
        async for _ in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
    span = call_span(spans)
    assert dict(span.attributes or {})["error.type"] == "CancelledError"


async def test_stream_error_before_first_chunk(spans: InMemorySpanExporter) -> None:
    backend = FakeBackend(lambda r: AuthenticationError("bad key", status=401), name="primary")
    async with AsyncClient(backend, **NO_RETRY) as client:
        with pytest.raises(AuthenticationError):
            async for _ in client.stream("hello"):
                pass
    assert dict(call_span(spans).attributes or {})["error.type"] == "AuthenticationError"


async def test_call_span_nests_under_the_callers_span(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    async with AsyncClient(FakeBackend(lambda r: "ok"), **NO_RETRY) as client:
        with tracer.start_as_current_span("handler") as parent:
            await client.chat("hello")
    span = call_span(spans)
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None and span.context.trace_id == parent.get_span_context().trace_id


def _detectors_available() -> bool:
    try:
        return callable(importlib.import_module("llmprod.pii").redact)
    except (ImportError, AttributeError):
        return False


async def test_capture_content_is_redacted(spans: InMemorySpanExporter) -> None:
    backend = FakeBackend(lambda r: "write to jo@example.com", name="primary")
    telemetry = llmprod.Telemetry(capture_content=True)
    async with AsyncClient(backend, telemetry=telemetry, **NO_RETRY) as client:
        await client.chat("mail jo@example.com about the plan")
    a = dict(call_span(spans).attributes or {})
    assert "jo@example.com" not in repr(a)
    if not _detectors_available():
        # Fails closed: without the detectors nothing is captured.
        assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
        return
    (message,) = json.loads(str(a["gen_ai.input.messages"]))
    assert message["role"] == "user"
    assert "about the plan" in message["parts"][0]["content"]
    (answer,) = json.loads(str(a["gen_ai.output.messages"]))
    assert answer["role"] == "assistant" and answer["finish_reason"] == "stop"


async def test_telemetry_off_opens_no_span(spans: InMemorySpanExporter) -> None:
    async with AsyncClient(FakeBackend(lambda r: "ok"), telemetry=False, **NO_RETRY) as client:
        await client.chat("hello")
    assert spans.get_finished_spans() == ()
