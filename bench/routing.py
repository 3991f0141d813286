"""Hybrid routing vs always-large: cost per 1K requests and latency on a mixed workload.

nox -s bench -- bench/routing.py
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path

import llmprod

EASY = ["What is the capital of {}?", "Say hello in {}.", "Give me a synonym for {}.", "Is {} a fruit?"]
HARD = [
    "Prove step by step that {} has no rational square root.",
    "Write a Python function def solve_{}(data): and explain its complexity.",
    "Design a multi-region architecture for {} and analyze the trade-offs in detail.",
]
WORDS = ["France", "Japan", "happy", "tomato", "Spanish", "seven", "payments", "search"]


def workload(n: int, hard_share: float, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(HARD if rng.random() < hard_share else EASY).format(rng.choice(WORDS)) for _ in range(n)]


def deployments() -> list[llmprod.Deployment]:
    fast = llmprod.backends.Latency(median=0.0005, p99=0.002)
    small = llmprod.Simulated("small-7b", latency=fast, tokens_per_second=1e6, input_price=0.1, output_price=0.1)
    large = llmprod.Simulated("frontier", latency=fast, tokens_per_second=1e6, input_price=2.5, output_price=10.0)
    return [
        llmprod.Deployment(replicas=[small], name="small-7b", tier="small"),
        llmprod.Deployment(replicas=[large], name="frontier", tier="large"),
    ]


async def run(prompts: list[str], *, hybrid: bool) -> dict[str, float]:
    router = llmprod.Router() if hybrid else llmprod.Router(classifier=lambda request: "large")
    async with llmprod.AsyncClient(deployments(), router=router, retry=None, breaker=None, telemetry=False) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(client.chat(p, max_tokens=64) for p in prompts))
        elapsed = time.perf_counter() - started
    cost = sum(r.cost or 0.0 for r in results)
    large = sum(r.tier == "large" for r in results)
    return {
        "usd_per_1k": cost / len(results) * 1000,
        "large_share": large / len(results),
        "p50_ms": statistics.median(r.latency for r in results) * 1000,
        "elapsed_s": elapsed,
    }


async def main() -> None:
    prompts = workload(2000, hard_share=0.3)
    hybrid = await run(prompts, hybrid=True)
    always = await run(prompts, hybrid=False)
    print("routing: 2,000 requests, 30% hard prompts (simulated providers: small $0.10/$0.10, large $2.50/$10 per 1M)")
    print(f"{'policy':<14}{'$ / 1K req':>12}{'large share':>14}")
    print(f"{'hybrid':<14}{hybrid['usd_per_1k']:>12.4f}{hybrid['large_share']:>14.1%}")
    print(f"{'always-large':<14}{always['usd_per_1k']:>12.4f}{always['large_share']:>14.1%}")
    print(f"hybrid costs {hybrid['usd_per_1k'] / always['usd_per_1k']:.2f}x of always-large")
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "routing.json").write_text(json.dumps({"hybrid": hybrid, "always_large": always}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
