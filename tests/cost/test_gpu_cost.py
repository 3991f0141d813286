"""Self-hosted cost: GPU busy time shared among the requests in flight together."""

from __future__ import annotations

import asyncio

import pytest

import llmprod
from llmprod.cost._gpu import GpuMeter, gpu_cost_per_million_tokens


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_request_alone_pays_its_whole_busy_time() -> None:
    clock = Clock()
    meter = GpuMeter(hourly_usd=3.60, gpus=2, clock=clock)  # $7.20/h = $0.002/s
    ticket = meter.start(100)
    clock.now = 5.0
    assert meter.finish(ticket) == pytest.approx(0.01)
    assert meter.busy_seconds == 5.0


def test_batched_requests_share_the_gpu_seconds_by_tokens() -> None:
    clock = Clock()
    meter = GpuMeter(hourly_usd=3.60, clock=clock)  # $0.001/s
    a = meter.start(300)  # t=0..4
    clock.now = 1.0
    b = meter.start(100)  # t=1..3, together with a
    clock.now = 3.0
    cost_b = meter.finish(b)
    clock.now = 4.0
    cost_a = meter.finish(a)
    # a alone 1s ($0.001) + 2s at 3/4 ($0.0015) + alone 1s ($0.001); b: 2s at 1/4.
    assert cost_a == pytest.approx(0.0035)
    assert cost_b == pytest.approx(0.0005)
    # Conservation: the requests pay exactly the GPU's busy time, never more.
    assert cost_a + cost_b == pytest.approx(meter.busy_seconds * meter.rate) == pytest.approx(0.004)
    # The mistake this avoids: latency x $/s would bill 4s + 2s = $0.006 for $0.004 of GPU.


def test_idle_time_is_not_billed_to_anyone() -> None:
    clock = Clock()
    meter = GpuMeter(hourly_usd=3.60, clock=clock)
    clock.now = 100.0  # idle
    ticket = meter.start(10)
    clock.now = 101.0
    assert meter.finish(ticket) == pytest.approx(0.001)


def test_dollars_per_million_tokens_from_throughput() -> None:
    # One $2.50/h GPU sustaining 2,000 tokens/s: 2.5 / 3600 / 2000 * 1e6 = $0.3472 per 1M tokens.
    assert gpu_cost_per_million_tokens(hourly_usd=2.50, tokens_per_second=2000) == pytest.approx(0.347222, rel=1e-5)
    with pytest.raises(llmprod.ConfigError):
        gpu_cost_per_million_tokens(hourly_usd=2.50, tokens_per_second=0)


def test_deployment_validates_its_gpu_fields() -> None:
    sim = llmprod.Simulated()
    with pytest.raises(llmprod.ConfigError):
        llmprod.Deployment(replicas=[sim], gpu_hourly_usd=-1.0)
    with pytest.raises(llmprod.ConfigError):
        llmprod.Deployment(replicas=[sim], gpu_hourly_usd=1.0, gpus=0)


def _fast(model: str, **kwargs: object) -> llmprod.Simulated:
    return llmprod.Simulated(
        model, latency=llmprod.backends.Latency(median=0.2, p99=0.2), tokens_per_second=1000, **kwargs
    )  # type: ignore[arg-type]


@pytest.mark.looptime  # the meter and the latencies read the loop's clock, run virtual here
async def test_self_hosted_calls_cost_their_share_and_compare_with_an_api() -> None:
    gpu = llmprod.Deployment(
        replicas=[_fast("llama-3.1-8b", name="vllm-h100")], name="vllm-h100", gpu_hourly_usd=3.60, gpus=1
    )
    async with llmprod.AsyncClient(gpu, retry=None, breaker=None) as client:
        responses = await asyncio.gather(*(client.chat(f"question {i}", max_tokens=20) for i in range(10)))
        report = client.costs()
    rate = 3.60 / 3600
    for r in responses:
        assert r.cost is not None and r.cost > 0
        # Ten requests in flight together: each pays well under its own latency x $/s.
        assert r.cost < r.latency * rate / 2
    total = sum(r.cost for r in responses if r.cost is not None)
    longest = max(r.latency for r in responses)
    assert total <= longest * rate * 1.05  # the batch paid about one busy span, not ten
    row = report.by("deployment")["vllm-h100"]
    assert row.requests == 10 and row.per_1k_requests is not None and row.per_1m_tokens is not None
    assert row.cost == pytest.approx(total)


async def test_api_and_self_hosted_deployments_side_by_side() -> None:
    api = _fast("sim-api", input_price=0.15, output_price=0.60)
    gpu = llmprod.Deployment(replicas=[_fast("sim-gpu", name="gpu-box")], name="gpu-box", gpu_hourly_usd=2.0)
    async with (
        llmprod.AsyncClient(api, retry=None, breaker=None) as a,
        llmprod.AsyncClient(gpu, retry=None, breaker=None) as g,
    ):
        await asyncio.gather(*(a.chat(f"q{i}", max_tokens=20) for i in range(4)))
        await asyncio.gather(*(g.chat(f"q{i}", max_tokens=20) for i in range(4)))
        rows = {**a.costs().by("deployment"), **g.costs().by("deployment")}
    assert set(rows) == {"sim-api", "gpu-box"}
    for row in rows.values():
        assert row.per_1k_requests is not None and row.per_1k_requests > 0
        assert row.per_1m_tokens is not None and row.per_1m_tokens > 0
