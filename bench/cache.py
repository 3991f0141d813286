"""Cache benchmark: hit latency, hit ratio on a Zipf workload, bytes per entry.

    python bench/cache.py            # figures on stdout; JSON in $LLMPROD_BENCH_OUT/cache.json

- Hit latency (microseconds, median and p99) at the cache layer alone and through the
  whole client, in memory and on a real ``redis-server`` on loopback (started here when
  the binary is installed). Baseline in the same run: the same client without a cache
  over an instant in-process backend (the stack's own cost), and a simulated provider
  with a 50 ms median latency (what a hit replaces).
- 10,000 requests drawn from a Zipf distribution over distinct prompts: hit ratio and
  upstream calls saved, sequentially and 50 at a time (single flight joins the rest).
- Bytes per entry: what the byte bound counts (the encoded entry) and what Python holds
  (measured with tracemalloc).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llmprod
from llmprod import ChatResponse, Usage
from llmprod._core.request import build_request
from llmprod.events import CacheLookup
from llmprod.layers.cache import CacheLayer
from llmprod.testing import FakeBackend

HIT_CALLS = 3000
WORKLOAD = 10_000
DISTINCT = 2_000
ZIPF_S = 1.1
ANSWER = "The capital of France is Paris. " * 8  # ~250 characters, a short typical answer


def reply(request: llmprod.backends.ChatRequest) -> ChatResponse:
    return ChatResponse(
        id="r", text=ANSWER, finish_reason="stop", usage=Usage(40, 60), model="gpt-4o-mini", deployment="d", cost=4e-5
    )


async def timed(call: Callable[[], Awaitable[Any]], n: int) -> dict[str, float]:
    for _ in range(min(200, n)):  # warm up
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return {"median_us": statistics.median(samples), "p99_us": samples[int(len(samples) * 0.99) - 1]}


@contextmanager
def redis_server() -> Iterator[str | None]:
    fallback = Path("/usr/bin/redis-server")
    binary = shutil.which("redis-server") or (str(fallback) if fallback.exists() else None)
    try:
        import redis  # noqa: F401
    except ImportError:
        binary = None
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", workdir]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(500):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                        sock.sendall(b"PING\r\n")
                        if sock.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    time.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait()


def client(backend: Any, cache: llmprod.Cache | None, hooks: list[Any] | None = None) -> llmprod.AsyncClient:
    return llmprod.AsyncClient(backend, cache=cache, hooks=hooks or [])


async def hit_latency(redis_url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    question = "What is the capital of France?"
    async with client(FakeBackend(reply), None) as plain:
        out["client_no_cache_instant_backend"] = await timed(lambda: plain.chat(question), HIT_CALLS)
    simulated = llmprod.Simulated(latency=llmprod.backends.Latency(median=0.05, p99=0.05), tokens_per_second=1e9)
    async with client(simulated, None) as slow:
        out["client_no_cache_simulated_50ms"] = await timed(lambda: slow.chat(question), 20)

    layer = CacheLayer(FakeBackend(reply), llmprod.Cache(), lambda event: None)
    request = build_request("What is the capital of France?")
    await layer.complete(request)
    out["layer_hit_memory"] = await timed(lambda: layer.complete(request), HIT_CALLS)
    async with client(FakeBackend(reply), llmprod.Cache()) as cached:
        out["client_hit_memory"] = await timed(lambda: cached.chat(question), HIT_CALLS)
    if redis_url is not None:
        redis_layer = CacheLayer(FakeBackend(reply), llmprod.Cache(redis_url=redis_url), lambda event: None)
        await redis_layer.complete(request)
        out["layer_hit_redis"] = await timed(lambda: redis_layer.complete(request), HIT_CALLS)
        await redis_layer.aclose()
        async with client(FakeBackend(reply), llmprod.Cache(redis_url=redis_url)) as shared:
            out["client_hit_redis"] = await timed(lambda: shared.chat(question), HIT_CALLS)
    return out


def zipf_prompts(n: int, seed: int = 7) -> list[str]:
    weights = [1 / (rank**ZIPF_S) for rank in range(1, DISTINCT + 1)]
    cumulative = list(itertools.accumulate(weights))
    rng = random.Random(seed)
    ranks = [bisect.bisect(cumulative, rng.random() * cumulative[-1]) for _ in range(n)]
    return [f"question number {rank}: what should I know about topic {rank}?" for rank in ranks]


async def zipf_workload(concurrency: int) -> dict[str, Any]:
    prompts = zipf_prompts(WORKLOAD)

    async def slow_reply(request: llmprod.backends.ChatRequest) -> ChatResponse:
        await asyncio.sleep(0.002)  # upstream calls overlap, so identical ones can coalesce
        return reply(request)

    backend = FakeBackend(slow_reply)
    events: list[Any] = []
    async with client(backend, llmprod.Cache(max_entries=100_000), [events.append]) as c:
        gate = asyncio.Semaphore(concurrency)

        async def one(prompt: str) -> None:
            async with gate:
                await c.chat(prompt)

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
        elapsed = time.perf_counter() - started
    outcomes = [e.outcome for e in events if isinstance(e, CacheLookup)]
    upstream = len(backend.requests)
    return {
        "requests": WORKLOAD,
        "distinct_prompts": len(set(prompts)),
        "concurrency": concurrency,
        "upstream_calls": upstream,
        "upstream_calls_saved": WORKLOAD - upstream,
        "hit_ratio": outcomes.count("hit") / WORKLOAD,
        "coalesced": outcomes.count("coalesced"),
        "saved_ratio": (WORKLOAD - upstream) / WORKLOAD,
        "seconds": elapsed,
    }


async def bytes_per_entry() -> dict[str, float]:
    layer = CacheLayer(FakeBackend(reply), llmprod.Cache(max_entries=100_000), lambda event: None)
    n = 5_000
    requests = [build_request(f"question number {i}: what should I know about topic {i}?") for i in range(n)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for request in requests:
        await layer.complete(request)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    entries, counted = layer.usage() or (0, 0)
    return {
        "entries": entries,
        "counted_bytes_per_entry": counted / entries,
        "python_bytes_per_entry": (after - before) / entries,
        "answer_chars": len(ANSWER),
    }


def show(results: dict[str, Any]) -> None:
    lat = results["hit_latency"]
    base = lat["client_no_cache_instant_backend"]["median_us"]
    provider = lat["client_no_cache_simulated_50ms"]["median_us"]
    print(f"cache benchmark (python {sys.version.split()[0]})\n")
    print(f"{'hit latency':36} {'median us':>10} {'p99 us':>10} {'vs no-cache stack':>18} {'vs 50 ms provider':>18}")
    for name, figures in lat.items():
        ratio = figures["median_us"] / base
        speedup = provider / figures["median_us"]
        print(f"{name:36} {figures['median_us']:10.1f} {figures['p99_us']:10.1f} {ratio:17.2f}x {speedup:17.0f}x")
    if "client_hit_redis" not in lat:
        print("(redis figures skipped: no redis-server binary or no redis package)")
    print()
    for run in results["zipf"]:
        print(
            f"zipf s={ZIPF_S}, {run['requests']} requests over {run['distinct_prompts']} distinct prompts, "
            f"concurrency {run['concurrency']}: hit ratio {run['hit_ratio']:.1%}, coalesced {run['coalesced']}, "
            f"upstream calls {run['upstream_calls']} ({run['upstream_calls_saved']} saved, {run['saved_ratio']:.1%})"
        )
    size = results["bytes_per_entry"]
    print(
        f"\nbytes per entry ({size['answer_chars']}-character answer, {size['entries']} entries): "
        f"{size['counted_bytes_per_entry']:.0f} counted by the byte bound (encoded), "
        f"{size['python_bytes_per_entry']:.0f} held by Python (tracemalloc)"
    )


async def main() -> dict[str, Any]:
    with redis_server() as url:
        results = {
            "hit_latency": await hit_latency(url),
            "zipf": [await zipf_workload(1), await zipf_workload(50)],
            "bytes_per_entry": await bytes_per_entry(),
        }
    show(results)
    return results


if __name__ == "__main__":
    figures = asyncio.run(main())
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "cache.json").write_text(json.dumps(figures, indent=2))
