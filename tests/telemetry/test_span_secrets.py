"""A malformed answer that echoes the key leaves no trace of it on the spans: not in the
status, the exception events or any attribute, on chat and on stream."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmprod
from llmprod import errors
from llmprod.testing import Fault, FaultServer
from tests.fixtures_secrets import OPENAI_TEST_KEY


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_the_span_status_of_a_malformed_answer_holds_no_key(
    spans: InMemorySpanExporter, fault_server: FaultServer, mode: str
) -> None:
    fault_server.push(Fault(body=f'{{"echo": "{OPENAI_TEST_KEY}", "choices": [{{'.encode()))
    backend = llmprod.OpenAICompatible(model="m", base_url=fault_server.url, api_key=OPENAI_TEST_KEY)
    async with llmprod.AsyncClient(backend, retry=None, breaker=None) as client:
        with pytest.raises(errors.MalformedResponseError):
            if mode == "chat":
                await client.chat("hi")
            else:
                [c async for c in client.stream("hi")]
    finished = spans.get_finished_spans()
    assert finished
    for span in finished:
        texts = [span.status.description or "", *map(str, (span.attributes or {}).values())]
        texts += [str(value) for event in span.events for value in (event.attributes or {}).values()]
        assert not [t for t in texts if OPENAI_TEST_KEY in t], span.name
