"""The GenAI semantic conventions, to the letter: the version emitted by default and on
opt-in, the instrumentation scope, server.port, chunk timings, cache hits told apart."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import llmprod
from llmprod.telemetry import OpenTelemetryHook
from llmprod.telemetry._conventions import BASELINE_SCHEMA, LATEST_SCHEMA, conventions
from llmprod.testing import FakeBackend, FaultServer

Reader = tuple[MeterProvider, InMemoryMetricReader]


def _points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any, Any]]:
    data = reader.get_metrics_data()
    found = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    found += [(dict(p.attributes or {}), p, sm.scope) for p in metric.data.data_points]
    return found


@pytest.mark.parametrize(
    ("value", "latest"),
    [
        ("", False),
        ("http", False),
        ("gen_ai_latest_experimental", True),
        ("http/dup, gen_ai_latest_experimental", True),
        ("gen_ai_latest", False),
    ],
)
def test_the_opt_in_is_read_as_a_comma_separated_list(value: str, latest: bool) -> None:
    chosen = conventions({"OTEL_SEMCONV_STABILITY_OPT_IN": value})
    assert chosen.latest is latest
    assert chosen.schema_url == (LATEST_SCHEMA if latest else BASELINE_SCHEMA)
    assert chosen.provider_key == ("gen_ai.provider.name" if latest else "gen_ai.system")


async def _run(reader: Reader, backend: Any, **options: Any) -> llmprod.ChatResponse:
    provider, _ = reader
    async with llmprod.AsyncClient(backend, retry=None, breaker=None, **options) as client:
        client.hooks.append(OpenTelemetryHook(client.deployments, meter_provider=provider, spans=False))
        chunks = [c async for c in client.stream("hello there, how are you", max_tokens=20)]
        await client.chat("hello there, how are you", max_tokens=20, temperature=0)
        await client.chat("hello there, how are you", max_tokens=20, temperature=0)  # a hit when cached
    final = chunks[-1].response
    assert final is not None
    return final


@pytest.mark.parametrize("latest", [False, True])
async def test_spans_and_metrics_follow_the_version_asked_for(
    latest: bool, spans: InMemorySpanExporter, metric_reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    if latest:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    else:
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    async with FaultServer() as server:
        backend = llmprod.OpenAICompatible(base_url=server.url, model="m-1", name="local")
        await _run(metric_reader, backend, cache=llmprod.Cache())
        port = server.port
    stream_span = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT)
    attrs = dict(stream_span.attributes or {})
    provider_key, other = (
        ("gen_ai.provider.name", "gen_ai.system") if latest else ("gen_ai.system", "gen_ai.provider.name")
    )
    assert attrs[provider_key] == "openai" and other not in attrs
    assert ("gen_ai.request.stream" in attrs) is latest
    assert ("gen_ai.response.time_to_first_chunk" in attrs) is latest
    if latest:
        assert attrs["gen_ai.request.stream"] is True and attrs["gen_ai.response.time_to_first_chunk"] > 0
    scope = stream_span.instrumentation_scope
    assert scope is not None and scope.name == "llmprod"
    assert scope.version == llmprod.__version__
    assert scope.schema_url == (LATEST_SCHEMA if latest else BASELINE_SCHEMA)

    _, reader = metric_reader
    durations = _points(reader, "gen_ai.client.operation.duration")
    assert {a[provider_key] for a, _, _ in durations} == {"openai"}
    assert all(a["server.address"] == "127.0.0.1" and a["server.port"] == port for a, _, _ in durations)
    by_cached = {a["llmprod.cached"]: p.count for a, p, _ in durations}
    assert by_cached == {False: 2, True: 1}  # a hit is told apart from the calls that reached the provider
    (_, _, meter_scope) = durations[0]
    assert meter_scope.version == llmprod.__version__
    assert meter_scope.schema_url == (LATEST_SCHEMA if latest else BASELINE_SCHEMA)


async def test_time_per_output_chunk_is_recorded_for_each_chunk_after_the_first(
    spans: InMemorySpanExporter, metric_reader: Reader
) -> None:
    final = await _run(metric_reader, FakeBackend(lambda r: "one two three four five"))
    _, reader = metric_reader
    ((_, gaps, _),) = _points(reader, "gen_ai.client.operation.time_per_output_chunk")
    # five word chunks and the final one: every chunk after the first is timed, the first is not
    assert gaps.count == 5 and final.text == "one two three four five"
    ((_, first, _),) = _points(reader, "gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1  # the stream only; the two chats have no chunks
