"""The call span of an embeddings call: named and typed per the GenAI conventions."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import llmprod
from llmprod.backends.openai import OpenAICompatible
from llmprod.testing import FaultServer


async def test_embeddings_span(spans: InMemorySpanExporter, fault_server: FaultServer) -> None:
    backend = OpenAICompatible(base_url=fault_server.url, model="text-embedding-3-small", api_key="k")
    async with llmprod.AsyncClient(backend, retry=None) as client:
        await client.embed("hello there")
    (span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    attributes = dict(span.attributes or {})
    assert span.name == "embeddings text-embedding-3-small"
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["gen_ai.usage.output_tokens"] == 0
