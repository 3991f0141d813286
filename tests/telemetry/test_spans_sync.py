"""The sync Client runs calls on its own loop thread: its spans still nest under the caller's."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmprod import Client
from llmprod.testing import FakeBackend


def test_sync_call_nests_under_the_callers_span(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with Client(FakeBackend(lambda r: "ok", name="primary"), retry=None, breaker=None) as client:
        with tracer.start_as_current_span("handler") as parent:
            client.chat("hello")
            chunks = list(client.stream("hello"))
        client.chat("outside any span")
    assert chunks[-1].response is not None
    calls = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(calls) == 3
    inside, streamed, outside = calls
    handler = parent.get_span_context()
    for span in (inside, streamed):
        assert span.parent is not None and span.parent.span_id == handler.span_id
        assert span.context is not None and span.context.trace_id == handler.trace_id
    assert outside.parent is None
    # The attempt spans nest under their call span, on the loop thread too.
    attempts = [s for s in spans.get_finished_spans() if s.name == "attempt primary"]
    assert len(attempts) == 3
    assert {a.parent.span_id for a in attempts if a.parent} == {s.context.span_id for s in calls if s.context}


def test_sync_feedback_links_to_the_call(spans: InMemorySpanExporter) -> None:
    with Client(FakeBackend(lambda r: "ok"), retry=None, breaker=None) as client:
        r = client.chat("hello")
        client.feedback(r.id, score=0.0, label="hallucination")
        stats = client.stats()
    assert stats.counts["feedback"] == 1
    assert stats.feedback_score == 0.0
    (call,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    (feedback,) = [s for s in spans.get_finished_spans() if s.name == "llmprod feedback"]
    assert call.context is not None
    assert [link.context.span_id for link in feedback.links] == [call.context.span_id]
    (event,) = feedback.events
    assert dict(event.attributes or {}) == {
        "gen_ai.response.id": r.id,
        "llmprod.feedback.score": 0.0,
        "llmprod.feedback.label": "hallucination",
    }
