"""Telemetry overhead: microseconds per call with telemetry on vs off.

    python bench/telemetry.py        # figures on stdout; JSON in $LLMPROD_BENCH_OUT/telemetry.json

Each configuration answers sequential ``chat`` calls (and streams) from the simulated
provider with zero latency (1 microsecond median, 1e9 tokens/s), through the default
stack (retry, breaker, cost). Rounds are interleaved so that machine noise hits every
configuration alike; the figure is the median over rounds of the mean CPU time
(``time.process_time``) per call, which other processes on a busy machine disturb
less than wall time does. Ratios compare rows of the same phase only.

1. bare: ``telemetry=False`` and the stats hook taken out (the floor);
2. off: ``telemetry=False`` (the stats hook stays: it is always on);
3. on, no SDK: the default (span layer, OpenTelemetry hook, logging hook) against the
   OpenTelemetry API's no-op providers;
4. on, no SDK, + Prometheus hook;
then, once an SDK is installed in this process (the global providers can be set only
once, so these come last): a TracerProvider with a BatchSpanProcessor to an exporter
that drops spans, and a MeterProvider with an in-memory reader:
5. on, SDK;
6. on, SDK, + Prometheus hook.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llmprod

CALLS = int(os.environ.get("LLMPROD_BENCH_CALLS", "200"))
ROUNDS = int(os.environ.get("LLMPROD_BENCH_ROUNDS", "15"))


def instant() -> llmprod.Simulated:
    return llmprod.Simulated(
        latency=llmprod.backends.Latency(median=1e-6, p99=1e-6), tokens_per_second=1e9, answer_tokens=8
    )


def build(kind: str) -> llmprod.AsyncClient:
    hooks: list[Any] = []
    if "prometheus" in kind:
        import prometheus_client

        from llmprod.telemetry import PrometheusHook

        hooks.append(PrometheusHook(registry=prometheus_client.CollectorRegistry()))
    client = llmprod.AsyncClient(instant(), telemetry=kind != "bare" and not kind.startswith("off"), hooks=hooks)
    if kind == "bare":
        client.hooks.remove(client._stats)
    return client


async def per_call_us(client: llmprod.AsyncClient, *, stream: bool) -> float:
    calls = CALLS // 4 if stream else CALLS
    started = time.process_time()
    for i in range(calls):
        if stream:
            async for _ in client.stream(f"question {i % 50}"):
                pass
        else:
            await client.chat(f"question {i % 50}")
    return (time.process_time() - started) / calls * 1e6


async def measure(kinds: Sequence[str], *, stream: bool) -> dict[str, float]:
    clients = {k: build(k) for k in kinds}
    for client in clients.values():  # warm up: lazy imports, tiktoken, first-use caches
        await client.chat("warm up")
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(ROUNDS):
        for kind, client in clients.items():
            samples[kind].append(await per_call_us(client, stream=stream))
    for client in clients.values():
        await client.aclose()
    return {k: statistics.median(v) for k, v in samples.items()}


def install_sdk() -> bool:
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    except ImportError:
        return False

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    return True


def table(title: str, figures: dict[str, float], baseline: str) -> None:
    base = figures[baseline]
    print(f"\n{title} (CPU per call, median of {ROUNDS} rounds; ratio to '{baseline}')")
    for kind, us in figures.items():
        print(f"  {kind:<28} {us:8.1f} us   x{us / base:5.2f}   +{us - base:6.1f} us")


async def main() -> dict[str, dict[str, float]]:
    try:
        import prometheus_client  # noqa: F401

        prom = True
    except ImportError:
        prom = False
    no_sdk = ["bare", "off", "on, no SDK"] + (["on, no SDK, + prometheus"] if prom else [])
    figures: dict[str, dict[str, float]] = {}
    for stream in (False, True):
        label = "stream" if stream else "chat"
        figures[label] = await measure(no_sdk, stream=stream)
    if install_sdk():
        with_sdk = ["off (SDK installed)", "on, SDK"] + (["on, SDK, + prometheus"] if prom else [])
        for stream in (False, True):
            label = "stream" if stream else "chat"
            figures[label].update(await measure(with_sdk, stream=stream))
    else:
        print("opentelemetry-sdk is not installed: the SDK rows are skipped", file=sys.stderr)
    print(f"llmprod telemetry overhead, python {sys.version.split()[0]}, {CALLS} calls x {ROUNDS} rounds")
    for label, rows in figures.items():
        table(f"{label}, API only", {k: v for k, v in rows.items() if k in no_sdk}, "off")
        sdk_rows = {k: v for k, v in rows.items() if k not in no_sdk}
        if sdk_rows:
            table(f"{label}, SDK installed", sdk_rows, "off (SDK installed)")
    return figures


if __name__ == "__main__":
    results = asyncio.run(main())
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "telemetry.json").write_text(json.dumps(results, indent=2))
