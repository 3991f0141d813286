"""``llmprod demo``: a realistic workload on the simulated provider, and its report.

Two deployments (a flaky primary and a smaller fallback), a cache, PII redaction and a
budget; a few hundred requests, many concurrent, some repeated, some carrying PII.
Everything runs in-process: no key, no network.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from .._client.async_client import AsyncClient
from .._core.config import PII, Breaker, Budget, Cache, Retry, Timeout
from .._core.deployment import Deployment
from .._core.errors import LLMProdError
from .._core.events import (
    BreakerStateChanged,
    CacheLookup,
    CallFinished,
    Event,
    FallbackUsed,
    PIIRedacted,
    RetryScheduled,
)
from ..backends.simulated import Latency, Simulated

_TOPICS = [
    "Summarize this support ticket about a failed payment",
    "Translate the release notes into French",
    "Write a haiku about latency",
    "Explain the difference between p95 and p99 latency",
    "Classify the sentiment of this review: the app is fast",
    "Draft a reply to a customer asking about refunds",
    "List three ways to reduce GPU cost",
    "What is continuous batching?",
]
_PII = [
    "My email is jane.doe@example.com, please call +1 415 555 0134.",
    "Card 4111 1111 1111 1111 was charged twice; IBAN DE89 3704 0044 0532 0130 00.",
    "The server 10.20.30.40 logged user john@corp.example.org.",
]


@dataclass
class DemoCounts:
    """Counts the events the report shows; a hook."""

    retries: int = 0
    fallbacks: int = 0
    breaker_opened: int = 0
    cache: Counter[str] = field(default_factory=Counter)
    redactions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    done: int = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RetryScheduled):
            self.retries += 1
        elif isinstance(event, FallbackUsed):
            self.fallbacks += 1
        elif isinstance(event, BreakerStateChanged) and event.new == "open":
            self.breaker_opened += 1
        elif isinstance(event, CacheLookup):
            self.cache[event.outcome] += 1
        elif isinstance(event, PIIRedacted) and event.direction == "input":
            self.redactions.update(event.counts)
        elif isinstance(event, CallFinished):
            self.done += 1
            if event.error:
                self.errors[event.error] += 1


def _prompts(count: int, rng: random.Random) -> list[str]:
    prompts = []
    for i in range(count):
        if rng.random() < 0.4:  # popular prompts repeat: the cache earns its keep
            prompts.append(_TOPICS[min(int(rng.paretovariate(1.2)) - 1, len(_TOPICS) - 1)])
        elif rng.random() < 0.3:
            prompts.append(f"{rng.choice(_PII)} Request #{i}.")
        else:
            prompts.append(f"{rng.choice(_TOPICS)} (variant {i})")
    return prompts


def build_demo_client(counts: DemoCounts, *, seed: int = 7, speed: float = 1.0) -> AsyncClient:
    def large_replica(name: str, failure_rate: float, offset: int) -> Simulated:
        return Simulated(
            "sim-large",
            name=name,
            latency=Latency(median=0.08 * speed, p99=0.4 * speed),
            tokens_per_second=800 / speed,
            failure_rate=failure_rate,
            seed=seed + offset,
            input_price=2.5,
            output_price=10.0,
        )

    # Two GPU replicas of the large model: one healthy-ish, one mostly down (its breaker trips).
    primary = [large_replica("gpu-a", 0.1, 0), large_replica("gpu-b", 0.9, 10)]
    secondary = Simulated(
        "sim-small",
        latency=Latency(median=0.03 * speed, p99=0.12 * speed),
        tokens_per_second=2000 / speed,
        failure_rate=0.02,
        seed=seed + 1,
        input_price=0.15,
        output_price=0.6,
    )
    return AsyncClient(
        [Deployment(replicas=primary, name="sim-large"), Deployment(replicas=[secondary], name="sim-small")],
        retry=Retry(attempts=2, initial=0.01, maximum=0.05),
        breaker=Breaker(fail_max=3, reset_timeout=0.5 * max(speed, 0.2)),
        timeout=Timeout(total=10.0, attempt=2.0),
        cache=Cache(ttl=600),
        pii=PII(mode="pseudonymize"),
        budget=Budget(soft=1.0),
        hooks=[counts],
    )


def _progress(out: TextIO, done: int, total: int, started: float) -> None:
    """A bar redrawn in place on a terminal; a line per quarter elsewhere (logs, CI)."""
    rate = done / max(time.monotonic() - started, 1e-9)
    if out.isatty():
        width = 30
        filled = int(width * done / total)
        out.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {rate:6.1f} req/s")
    elif done == total or done % max(total // 4, 1) == 0:
        out.write(f"  {done}/{total} done, {rate:.1f} req/s\n")
    else:
        return
    out.flush()


async def run_demo(
    requests: int = 400, concurrency: int = 32, *, seed: int = 7, speed: float = 1.0, out: TextIO = sys.stdout
) -> int:
    """Run the workload and print the report; returns the number of failed calls."""
    rng = random.Random(seed)
    counts = DemoCounts()
    prompts = _prompts(requests, rng)
    gate = asyncio.Semaphore(concurrency)
    out.write(f"llmprod demo: {requests} requests, {concurrency} at a time, on the simulated provider\n")
    async with build_demo_client(counts, seed=seed, speed=speed) as client:
        started = time.monotonic()

        async def one(i: int, prompt: str) -> None:
            async with gate:
                try:
                    if i % 5 == 0:
                        async for _ in client.stream(prompt, max_tokens=48, tenant="acme"):
                            pass
                    else:
                        await client.chat(prompt, max_tokens=48, tenant="acme" if i % 2 else "globex")
                except LLMProdError:
                    pass  # counted by the hook
            _progress(out, counts.done, requests, started)

        await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
        elapsed = time.monotonic() - started
        out.write("\n\n" if out.isatty() else "\n")
        out.write(_report(client, counts, requests, elapsed))
    return sum(counts.errors.values())


def _report(client: AsyncClient, counts: DemoCounts, requests: int, elapsed: float) -> str:
    stats = client.stats()
    costs = client.costs()
    lines = [
        "== llmprod demo report ==",
        f"requests      {requests} in {elapsed:.1f}s ({requests / elapsed:.0f} req/s)",
        f"errors        {sum(counts.errors.values())} {dict(counts.errors) or ''}".rstrip(),
        "",
        repr(stats),
        "",
        "resilience",
        f"  retries          {counts.retries}",
        f"  fallbacks        {counts.fallbacks}",
        f"  breaker trips    {counts.breaker_opened}",
        "cache",
        f"  hits {counts.cache['hit']}  misses {counts.cache['miss']}  coalesced {counts.cache['coalesced']}"
        f"  stale {counts.cache['stale']}",
        "pii redacted (input)",
        "  " + (", ".join(f"{k} {v}" for k, v in sorted(counts.redactions.items())) or "none"),
        "",
        repr(costs),
        "",
    ]
    return "\n".join(lines)
