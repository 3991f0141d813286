"""Resilience: success under failures (retry + breaker + fallback), and hedging a heavy tail.

    python bench/resilience.py       # a table on stdout; JSON in $LLMPROD_BENCH_OUT/resilience.json

(a) 10,000 requests over two deployments of simulated providers (1 ms median). The
    primary fails 30 % of the time (503, 429 with Retry-After, timeouts, connection
    resets); baseline in the same run: the same primary with no retry, no breaker and
    no fallback. Figures: success rate, p50/p99 latency, extra attempts per request.
(b) A backend with a heavy tail (5 % of calls 20x slower than the rest): p99 without
    hedging vs with hedging (fixed delay, and the observed p95), and the extra requests
    that hedging cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import llmprod
from llmprod import ChatChunk, ChatResponse, Usage
from llmprod.backends import ChatRequest

FAST = llmprod.backends.Latency(median=0.001, p99=0.004)
CONCURRENCY = 20


def quantile(values: Sequence[float], q: float) -> float:
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, int(q * len(ranked)))]


async def drive(client: llmprod.AsyncClient, n: int, concurrency: int) -> tuple[list[ChatResponse], int, float]:
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(i: int) -> ChatResponse | None:
        nonlocal failures
        async with gate:
            try:
                return await client.chat(f"request {i}", max_tokens=8)
            except llmprod.LLMProdError:
                failures += 1
                return None

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    return [r for r in results if r is not None], failures, time.perf_counter() - started


def sim(name: str, failure_rate: float, seed: int) -> llmprod.Simulated:
    return llmprod.Simulated(
        name, latency=FAST, tokens_per_second=1e7, answer_tokens=8, failure_rate=failure_rate, seed=seed
    )


async def failures(n: int = 10_000) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    setups: dict[str, dict[str, Any]] = {
        "no resilience (baseline)": {"deployments": [sim("primary", 0.3, 1)], "retry": None, "breaker": None},
        "retry + breaker + fallback": {
            "deployments": [sim("primary", 0.3, 1), sim("secondary", 0.0, 2)],
            "retry": llmprod.Retry(attempts=3, initial=0.002, maximum=0.02),
            "breaker": llmprod.Breaker(fail_max=5, reset_timeout=0.05),
        },
    }
    for label, setup in setups.items():
        deployments = setup.pop("deployments")
        async with llmprod.AsyncClient(deployments, telemetry=False, **setup) as client:
            ok, _, elapsed = await drive(client, n, CONCURRENCY)
        latencies = [r.latency for r in ok]
        rows[label] = {
            "success_rate": len(ok) / n,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": quantile(latencies, 0.99) * 1000,
            "extra_attempts_per_request": sum(r.attempts - 1 for r in ok) / n,
            "served_by_fallback": sum(r.deployment == "secondary" for r in ok) / n,
            "elapsed_s": elapsed,
        }
    return rows


class HeavyTail:
    """Answers after ~10 ms, except ``slow_share`` of calls, which take 20x longer."""

    def __init__(self, name: str, seed: int, *, base: float = 0.01, slow_share: float = 0.05) -> None:
        self.name = name
        self.base = base
        self.slow_share = slow_share
        self.rng = random.Random(seed)
        self.calls = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        slow = self.rng.random() < self.slow_share
        await asyncio.sleep(self.base * (20 if slow else 1) * self.rng.uniform(0.9, 1.1))
        return ChatResponse(id="h", text="ok", finish_reason="stop", usage=Usage(1, 1), model="m", deployment=self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = await self.complete(request)
        yield ChatChunk(text=response.text, finish_reason="stop", usage=response.usage, response=response)

    async def aclose(self) -> None:
        return None


async def hedging(n: int = 3000) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for label, hedge in [
        ("no hedging (baseline)", None),
        ("hedge after 20 ms", llmprod.Hedge(delay=0.02, max_extra=0.1)),
        ("hedge after observed p95", llmprod.Hedge(delay="p95", max_extra=0.1)),
    ]:
        replicas = [HeavyTail("r1", 1), HeavyTail("r2", 2)]
        deployment = llmprod.Deployment(replicas=replicas, name="tail", balance="round_robin", hedge=hedge)
        async with llmprod.AsyncClient(deployment, retry=None, breaker=None, telemetry=False) as client:
            ok, _, elapsed = await drive(client, n, 50)
        latencies = [r.latency for r in ok]
        rows[label] = {
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": quantile(latencies, 0.99) * 1000,
            "extra_requests": sum(r.calls for r in replicas) / n - 1,
            "elapsed_s": elapsed,
        }
    base = rows["no hedging (baseline)"]["p99_ms"]
    for row in rows.values():
        row["p99_x_baseline"] = row["p99_ms"] / base
    return rows


def table(title: str, rows: dict[str, dict[str, float]], columns: Sequence[str]) -> None:
    print(f"\n{title}")
    print(f"{'':30}" + "".join(f"{c:>28}" for c in columns))
    for label, row in rows.items():
        print(f"{label:30}" + "".join(f"{row[c]:>28.4g}" for c in columns))


async def main() -> dict[str, dict[str, dict[str, float]]]:
    a = await failures()
    table(
        "(a) 10,000 requests, primary failing 30 % (mixed faults), fallback to a second deployment",
        a,
        ["success_rate", "p50_ms", "p99_ms", "extra_attempts_per_request", "served_by_fallback"],
    )
    b = await hedging()
    table("(b) heavy tail: 5 % of calls 20x slower", b, ["p50_ms", "p99_ms", "p99_x_baseline", "extra_requests"])
    resilient = a["retry + breaker + fallback"]
    print("\ntargets:")
    print(f"  success rate >= 99.9 %: {resilient['success_rate']:.4%} -> {_met(resilient['success_rate'] >= 0.999)}")
    for label in ("hedge after 20 ms", "hedge after observed p95"):
        row = b[label]
        met = row["p99_x_baseline"] <= 1 / 3 and row["extra_requests"] <= 0.10
        print(
            f"  {label}: p99 {row['p99_x_baseline']:.2f}x baseline (<= 0.33), "
            f"extra {row['extra_requests']:.1%} (<= 10 %) -> {_met(met)}"
        )
    return {"failures": a, "hedging": b}


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    figures = asyncio.run(main())
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "resilience.json").write_text(json.dumps(figures, indent=2))
