"""Guards and rate-limit benchmark: what the safety layers add to a call.

    python bench/guards.py           # figures on stdout; JSON in $LLMPROD_BENCH_OUT/guards.json

- Injection scoring throughput (MB/s) and latency per prompt (microseconds) on a mix
  of ordinary prompts of about 1 KB, and on one 1 MB prompt.
- Per-call overhead through the whole client over an instant in-process backend:
  no safety layers (the baseline, measured in the same run) vs guards, vs an
  in-memory rate limiter, vs a Redis rate limiter on loopback (when ``redis-server``
  is installed), as ratios to the baseline.
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
from pathlib import Path
from typing import Any

import llmprod
from llmprod._safety.injection import score_injection
from llmprod.testing import FakeBackend

_SENTENCES = [
    "Please summarize the ticket below and suggest a next step for the support agent.",
    "The customer reports that the login page times out after the password reset.",
    "Ignore the noise in the logs; the real error is a TLS handshake failure at 12:03.",
    "Write a Python function that parses ISO 8601 timestamps and returns UTC datetimes.",
    "Erkläre bitte den Unterschied zwischen TCP und UDP in zwei Sätzen.",
    '{"order": 4411, "status": "shipped", "items": [{"sku": "A-17", "qty": 2}]}',
]


def _prompt(i: int, size: int = 1000) -> str:
    text, k = [], i
    while sum(map(len, text)) < size:
        text.append(_SENTENCES[k % len(_SENTENCES)])
        k += 1
    return " ".join(text)


def bench_scoring() -> dict[str, float]:
    prompts = [_prompt(i) for i in range(500)]
    total = sum(len(p.encode()) for p in prompts)
    started = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        for p in prompts:
            score_injection(p)
    elapsed = time.perf_counter() - started
    big = _prompt(0, 1_000_000)
    t0 = time.perf_counter()
    score_injection(big)
    big_s = time.perf_counter() - t0
    return {
        "scoring_mb_per_s_1kb_prompts": total * rounds / elapsed / 1e6,
        "scoring_us_per_1kb_prompt": elapsed / (rounds * len(prompts)) * 1e6,
        "scoring_ms_for_1mb_prompt": big_s * 1e3,
    }


async def _per_call_us(client: llmprod.AsyncClient, n: int) -> float:
    for i in range(50):  # warm up
        await client.chat(_prompt(i), api_key="bench-key")
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        await client.chat(_prompt(i), api_key="bench-key")
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def _client(**options: Any) -> llmprod.AsyncClient:
    return llmprod.AsyncClient(FakeBackend(lambda r: "ok"), retry=None, breaker=None, telemetry=False, **options)


def _redis() -> tuple[subprocess.Popen[bytes], str] | None:
    fallback = Path("/usr/bin/redis-server")
    binary = shutil.which("redis-server") or (str(fallback) if fallback.exists() else None)
    if binary is None:
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", tempfile.gettempdir()]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    return None


async def bench_overhead(n: int = 2000) -> dict[str, float]:
    big = 1e12  # limits never bind: this measures the bookkeeping
    figures: dict[str, float] = {}
    baseline = await _per_call_us(_client(), n)
    figures["baseline_us_per_call"] = baseline
    variants: dict[str, dict[str, Any]] = {
        "guards": {"guards": llmprod.Guards(injection="block", max_prompt_tokens=100_000, blocklist=["secret"])},
        "ratelimit_memory": {"rate_limit": llmprod.RateLimit(requests_per_minute=big, tokens_per_minute=big)},
    }
    redis = _redis()
    if redis is not None:
        variants["ratelimit_redis"] = {
            "rate_limit": llmprod.RateLimit(requests_per_minute=big, tokens_per_minute=big, redis_url=redis[1])
        }
    try:
        for name, options in variants.items():
            client = _client(**options)
            us = await _per_call_us(client, n if "redis" not in name else n // 4)
            await client.aclose()
            figures[f"{name}_us_per_call"] = us
            figures[f"{name}_ratio_to_baseline"] = us / baseline
    finally:
        if redis is not None:
            redis[0].kill()
            redis[0].wait()
    return figures


def main() -> None:
    figures = bench_scoring()
    figures |= asyncio.run(bench_overhead())
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:10.2f}")
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "guards.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
