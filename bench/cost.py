"""Cost benchmark: what pricing and budgets add to a call, and token counting speed.

    python bench/cost.py            # figures on stdout; JSON in $LLMPROD_BENCH_OUT/cost.json

- Per-call time (microseconds, median) of the cost layer over an instant in-process
  backend: without a budget, with an in-memory hard budget, and with a Redis budget
  (a real ``redis-server`` on loopback, started here when the binary is installed).
  Baseline in the same run: the same instant backend called directly.
- Token counting: tiktoken (exact) against the offline approximation, per 1,000-token prompt.
- Self-hosted sharing: one GPU meter, N requests in flight together; the cost of one request
  as a fraction of latency x $/s (the billing mistake this avoids).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import llmprod
from llmprod import ChatResponse, Usage
from llmprod._core.request import build_request
from llmprod.cost._gpu import GpuMeter
from llmprod.cost._tokens import count_text, encodings
from llmprod.layers.cost import CostLayer

N = 3_000


class Instant:
    name = "instant"
    model = "gpt-4o-mini"

    async def complete(self, request: llmprod.backends.ChatRequest) -> ChatResponse:
        usage = Usage(prompt_tokens=120, completion_tokens=40, cached_tokens=64)
        return ChatResponse(
            id="1", text="ok", finish_reason="stop", usage=usage, model="gpt-4o-mini", deployment="instant"
        )

    async def stream(self, request: llmprod.backends.ChatRequest) -> Any:
        raise NotImplementedError
        yield

    async def aclose(self) -> None:
        return None


async def per_call_us(call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(200):
        await call()
    samples = []
    for _ in range(N):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def redis_url() -> tuple[str | None, subprocess.Popen[bytes] | None]:
    fallback = Path("/usr/bin/redis-server")
    binary = shutil.which("redis-server") or (str(fallback) if fallback.exists() else None)
    if binary is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp()
    cmd = [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return f"redis://127.0.0.1:{port}/0", proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None, None


async def layer_figures() -> dict[str, float]:
    deployments = [llmprod.Deployment(replicas=[Instant()])]
    request = build_request(None, messages=[{"role": "user", "content": "Summarize: " + "word " * 100}], max_tokens=50)
    backend = Instant()
    out = {"direct": await per_call_us(lambda: backend.complete(request))}
    plain = CostLayer(Instant(), None, lambda e: None, deployments=deployments)
    out["cost_layer"] = await per_call_us(lambda: plain.complete(request))
    memory = CostLayer(Instant(), llmprod.Budget(hard=1e9), lambda e: None, deployments=deployments)
    out["cost_layer_memory_budget"] = await per_call_us(lambda: memory.complete(request))
    url, proc = redis_url()
    if url is not None:
        try:
            budget = llmprod.Budget(hard=1e9, redis_url=url)
            shared = CostLayer(Instant(), budget, lambda e: None, deployments=deployments)
            out["cost_layer_redis_budget"] = await per_call_us(lambda: shared.complete(request))
            await shared.aclose()
        finally:
            assert proc is not None
            proc.kill()
    return out


def token_figures() -> dict[str, float]:
    text = "The quick brown fox jumps over the lazy dog, again and again. " * 75  # ~1,000 tokens
    encodings.reset()
    count_text("warm", "gpt-4o")
    start = time.perf_counter()
    for _ in range(200):
        exact = count_text(text, "gpt-4o")
    tiktoken_us = (time.perf_counter() - start) / 200 * 1e6
    start = time.perf_counter()
    for _ in range(200):
        approx = -(-len(text) // 4)
    approx_us = (time.perf_counter() - start) / 200 * 1e6
    return {"tokens": exact.tokens, "approx_tokens": approx, "tiktoken_us": tiktoken_us, "approx_us": approx_us}


def sharing_figures() -> dict[str, float]:
    out = {}
    for n in (1, 8, 64):
        now = [0.0]
        meter = GpuMeter(hourly_usd=3.6, clock=lambda now=now: now[0])
        tickets = [meter.start(500) for _ in range(n)]
        now[0] = 2.0
        costs = [meter.finish(t) for t in tickets]
        out[f"in_flight_{n}"] = costs[0] / (2.0 * meter.rate)
    return out


def main() -> None:
    layer = asyncio.run(layer_figures())
    tokens = token_figures()
    sharing = sharing_figures()
    base = layer["direct"]
    print("cost layer, per call (median us; ratio to calling the backend directly)")
    for name, us in layer.items():
        print(f"  {name:28} {us:8.1f} us  x{us / base:5.1f}")
    print(f"token counting, {tokens['tokens']:.0f}-token prompt")
    print(f"  tiktoken (exact)            {tokens['tiktoken_us']:8.1f} us")
    print(f"  approximation (chars / 4)   {tokens['approx_us']:8.2f} us  ({tokens['approx_tokens']:.0f} tokens)")
    print("self-hosted: one request's cost as a fraction of latency x $/s")
    for name, share in sharing.items():
        print(f"  {name:28} {share:8.3f}")
    target = os.environ.get("LLMPROD_BENCH_OUT")
    if target:
        figures = {"layer_us": layer, "tokens": tokens, "sharing": sharing}
        Path(target, "cost.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
