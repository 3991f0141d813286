"""client.stats(): percentiles against the simulated provider's distribution, windows, rates."""

from __future__ import annotations

import asyncio
import statistics

import pytest

import llmprod
from llmprod import AsyncClient, ChatResponse, Usage
from llmprod.events import (
    BreakerStateChanged,
    CacheLookup,
    CallFinished,
    FallbackUsed,
    PIIRedacted,
    RetryScheduled,
    StreamResumed,
)
from llmprod.telemetry._stats import StatsHook, percentile
from llmprod.testing import FakeBackend


def quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


async def warm_up() -> None:
    """One call first, so the one-off loads (tiktoken's encoding: ~1 s) stay out of the sample."""
    async with AsyncClient(retry=None, breaker=None, telemetry=False) as client:
        await client.chat("warm up", max_tokens=1)


async def test_percentiles_match_the_simulated_latency_distribution() -> None:
    await warm_up()
    median, p99 = 0.02, 0.08
    sim = llmprod.Simulated(
        "sim", latency=llmprod.backends.Latency(median=median, p99=p99), tokens_per_second=1e9, seed=11
    )
    async with AsyncClient(sim, retry=None, breaker=None, telemetry=False) as client:
        answers = await client.batch([f"question {i}" for i in range(300)], concurrency=30)
        stats = client.stats()
    latencies = [a.latency for a in answers if isinstance(a, ChatResponse)]
    assert len(latencies) == 300 == stats.overall.requests
    # Exactly the sample's own percentiles...
    assert (stats.latency.p50, stats.latency.p95, stats.latency.p99) == pytest.approx(quantiles(latencies))
    # ...and the sample follows the configured log-normal (measured = drawn delay + overhead).
    assert stats.latency.p50 is not None and stats.latency.p99 is not None and stats.latency.p95 is not None
    assert 0.8 * median <= stats.latency.p50 <= 1.3 * median + 0.03
    assert 0.6 * p99 <= stats.latency.p99 <= 1.6 * p99 + 0.05
    assert stats.latency.p50 < stats.latency.p95 <= stats.latency.p99
    assert stats.error_rate == 0
    assert set(stats.by_model) == {"sim"} and set(stats.by_deployment) == {"sim"}


async def test_ttft_percentiles_from_streams() -> None:
    await warm_up()
    sim = llmprod.Simulated("sim", latency=llmprod.backends.Latency(median=0.01, p99=0.04), answer_tokens=4, seed=5)
    async with AsyncClient(sim, retry=None, breaker=None, telemetry=False) as client:

        async def one(i: int) -> ChatResponse | None:
            chunks = [c async for c in client.stream(f"q{i}")]
            return chunks[-1].response

        finals = await asyncio.gather(*(one(i) for i in range(40)))
        stats = client.stats()
    ttfts = [f.ttft for f in finals if f is not None and f.ttft is not None]
    assert len(ttfts) == 40
    assert (stats.ttft.p50, stats.ttft.p95, stats.ttft.p99) == pytest.approx(quantiles(ttfts))
    assert stats.ttft.p50 is not None and stats.latency.p50 is not None
    assert 0.008 <= stats.ttft.p50 < stats.latency.p50


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def finished(
    latency: float,
    *,
    ok: bool = True,
    model: str = "m",
    deployment: str = "d",
    cost: float | None = 0.001,
    cached: bool = False,
    slo: str | None = None,
    ttft: float | None = None,
) -> CallFinished:
    response = (
        ChatResponse(
            id="r",
            text="x",
            finish_reason="stop",
            usage=Usage(prompt_tokens=10, completion_tokens=20),
            model=model,
            deployment=deployment,
            cost=cost,
            cached=cached,
        )
        if ok
        else None
    )
    return CallFinished(
        "c",
        ttft is not None,
        latency,
        response=response,
        error=None if ok else "ServerError",
        model=model,
        slo=slo,
        ttft=ttft,
    )


def test_rates_groups_slo_and_counts() -> None:
    clock = Clock()
    hook = StatsHook(window=60, clock=clock)
    clock.now += 10
    for event in (
        finished(0.05, slo="interactive"),
        finished(0.5, slo="interactive", model="other", deployment="d2", cost=0.003),
        finished(2.0, slo="interactive"),
        finished(0.01, ok=False, slo="interactive"),
        finished(0.02, slo="realtime", cached=True, cost=0.0),
        finished(0.03, slo="unknown-class"),
        RetryScheduled("c", "d", 1, 0.1, "ServerError"),
        StreamResumed("c", "d", 120, 1, "ProviderConnectionError"),
        StreamResumed("c", "d", 240, 2, "ProviderTimeoutError"),
        FallbackUsed("c", "d", "d2", "ServerError"),
        BreakerStateChanged("d", "r", "closed", "open"),
        BreakerStateChanged("d", "r", "open", "half-open"),
        CacheLookup("c", "hit"),
        CacheLookup("c", "miss"),
        PIIRedacted("c", "input", {"EMAIL": 2, "PHONE": 1}),
    ):
        hook(event)
    stats = hook.stats()
    assert stats.window == pytest.approx(10)
    assert stats.overall.requests == 6 and stats.overall.errors == 1
    assert stats.error_rate == pytest.approx(1 / 6)
    assert stats.requests_per_second == pytest.approx(0.6)
    assert stats.overall.tokens_per_second == pytest.approx((5 - 1) * 20 / 10)  # the cache hit used no tokens
    assert stats.cache_hit_rate == pytest.approx(1 / 6)
    assert stats.cost_per_1k_requests == pytest.approx((0.001 * 3 + 0.003) / 6 * 1000)
    assert stats.latency.p50 == pytest.approx(percentile(sorted([0.05, 0.5, 2.0, 0.02, 0.03]), 0.5))
    assert stats.by_model["other"].requests == 1 and stats.by_model["m"].requests == 5
    assert stats.by_deployment["(none)"].errors == 1
    interactive = stats.slo["interactive"]
    assert (interactive.requests, interactive.met, interactive.target) == (4, 2, 1.0)
    assert stats.slo["realtime"].attainment == 1.0
    assert "unknown-class" not in stats.slo
    assert stats.counts["retries"] == 1 and stats.counts["fallbacks"] == 1
    assert stats.counts["resumes"] == 2
    assert stats.counts["breaker_trips"] == 1
    assert (stats.counts["cache_hits"], stats.counts["cache_misses"]) == (1, 1)
    assert stats.counts["pii_redactions"] == 3


def test_sliding_window_forgets_old_calls() -> None:
    clock = Clock()
    hook = StatsHook(window=30, clock=clock)
    for _ in range(5):
        hook(finished(1.0))
    hook(RetryScheduled("c", "d", 1, 0.1, "ServerError"))
    clock.now += 20
    for _ in range(3):
        hook(finished(3.0))
    assert hook.stats().overall.requests == 8
    clock.now += 15  # the first five are now 35 s old
    stats = hook.stats()
    assert stats.overall.requests == 3
    assert stats.latency.p50 == 3.0
    assert stats.requests_per_second == pytest.approx(3 / 30)
    assert stats.counts["retries"] == 0
    clock.now += 100
    empty = hook.stats()
    assert empty.overall.requests == 0 and empty.latency.p50 is None and empty.error_rate is None


def test_repr_and_html_are_readable() -> None:
    clock = Clock()
    hook = StatsHook(clock=clock)
    clock.now += 2
    hook(finished(0.25, model="<b>m</b>", slo="interactive"))
    hook(RetryScheduled("c", "d", 1, 0.1, "ServerError"))
    stats = hook.stats()
    text = repr(stats)
    assert "p50 250.0 ms" in text and "SLO interactive" in text and "retries 1" in text
    page = stats._repr_html_()
    assert "<table>" in page and "&lt;b&gt;m&lt;/b&gt;" in page and "<b>m</b>" not in page


async def test_client_stats_are_on_by_default_even_without_telemetry() -> None:
    backend = FakeBackend(lambda r: "ok")
    async with AsyncClient(backend, retry=None, breaker=None, telemetry=False) as client:
        for _ in range(3):
            await client.chat("hello", slo="batch")
        stats = client.stats()
    assert stats.overall.requests == 3
    assert stats.slo["batch"].attainment == 1.0
    assert stats.cost_per_1k_requests is None or stats.cost_per_1k_requests >= 0
