"""Transformers engine benchmark: continuous batching on CPU, two figures, in one run.

    python bench/engine.py           # table on stdout; JSON in $LLMPROD_BENCH_OUT/engine.json

1. Throughput: 64 concurrent greedy requests of 64 new tokens each, against 16 of the same
   requests sent one at a time, on one engine (``max_batch_size=64``). Tokens/s counts
   generated tokens over the wall time. Three alternating rounds; the ratio is the median
   of the rounds' ratios. Goal: at least 8x.
2. Mixed load: 4 long requests (400 new tokens) and 16 short ones (8 new tokens) arrive
   together; the short ones' p50 latency against the p50 of the same short requests sent
   alone, one after another, to an idle engine. Three alternating rounds (alone, then
   mixed); the ratio is the median of the rounds' ratios. Goal: at most 2x.

On two tiny random-weight models built offline (hidden 64 x 2 layers, and hidden 256 x 4
layers), torch with 2 threads. Needs torch and transformers
(``pip install torch==2.13.0 'llmprod[transformers]'``).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONCURRENT = 64
NEW_TOKENS = 64
LONG, LONG_TOKENS = 4, 400
SHORT, SHORT_TOKENS = 16, 8
ROUNDS = 3
SEQUENTIAL = 16  # requests timed one at a time in each round
THREADS = 2
MODELS = {"tiny (h64 x 2)": {}, "small (h256 x 4)": {"hidden_size": 256, "num_layers": 4, "num_heads": 8}}


def _ask(text: str, tokens: int) -> Any:
    from llmprod import Message
    from llmprod.backends import ChatRequest

    return ChatRequest(messages=(Message("user", text),), max_tokens=tokens, temperature=0.0)


async def _engine(model: Path, max_batch_size: int) -> Any:
    import llmprod

    backend = llmprod.Transformers(str(model), max_batch_size=max_batch_size, batch_window_ms=5, threads=THREADS)
    await backend.start()
    await backend.complete(_ask("warm up", 4))
    return backend


async def throughput(model: Path) -> dict[str, float]:
    """Alternating rounds on one engine: requests one at a time, then 64 at once (paired ratios)."""
    backend = await _engine(model, CONCURRENT)
    requests = [_ask(f"request {i}: write about the river", NEW_TOKENS) for i in range(CONCURRENT)]
    rounds = []
    try:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            tokens = 0
            for r in requests[:SEQUENTIAL]:
                tokens += (await backend.complete(r)).usage.completion_tokens
            one = tokens / (time.perf_counter() - started)
            started = time.perf_counter()
            answers = await asyncio.gather(*(backend.complete(r) for r in requests))
            batched = sum(a.usage.completion_tokens for a in answers) / (time.perf_counter() - started)
            rounds.append((one, batched))
    finally:
        await backend.aclose()
    return {
        "one_at_a_time_tokens_per_s": statistics.median(o for o, _ in rounds),
        "batched_tokens_per_s": statistics.median(b for _, b in rounds),
        "ratio": statistics.median(b / o for o, b in rounds),
    }


async def _timed(backend: Any, request: Any) -> float:
    started = time.perf_counter()
    await backend.complete(request)
    return time.perf_counter() - started


async def mixed(model: Path) -> dict[str, float]:
    """Alternating rounds (alone, then mixed) on one engine; the ratio is paired within a round."""
    backend = await _engine(model, LONG + SHORT)
    shorts = [_ask(f"short question {i}", SHORT_TOKENS) for i in range(SHORT)]
    longs = [_ask(f"long story {i}: tell it all", LONG_TOKENS) for i in range(LONG)]
    rounds = []
    try:
        for _ in range(ROUNDS):
            alone = statistics.median([await _timed(backend, r) for r in shorts])
            together = await asyncio.gather(*(_timed(backend, r) for r in [*longs, *shorts]))
            rounds.append((alone, statistics.median(together[LONG:])))
    finally:
        await backend.aclose()
    return {
        "short_alone_p50_s": statistics.median(a for a, _ in rounds),
        "short_mixed_p50_s": statistics.median(m for _, m in rounds),
        "ratio": statistics.median(m / a for a, m in rounds),
    }


def main() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        print("bench/engine.py: skipped (needs: pip install torch==2.13.0 'llmprod[transformers]')")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llmprod.testing.tiny_model import build_tiny_model

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, shape in MODELS.items():
            path = build_tiny_model(Path(tmp) / label.split()[0], **shape)
            results[label] = {"throughput": asyncio.run(throughput(path)), "mixed": asyncio.run(mixed(path))}
    print(f"\n1. {CONCURRENT} concurrent requests x {NEW_TOKENS} new tokens, greedy, CPU, torch threads={THREADS}")
    print(f"{'model':<18} {'one at a time':>16} {'batched':>16} {'ratio':>7}   goal >= 8x")
    for label, row in results.items():
        t = row["throughput"]
        print(
            f"{label:<18} {t['one_at_a_time_tokens_per_s']:>11.0f} tok/s {t['batched_tokens_per_s']:>11.0f} tok/s "
            f"{t['ratio']:>6.1f}x   {'met' if t['ratio'] >= 8 else 'MISSED'}"
        )
    print(
        f"\n2. mixed load: {LONG} long ({LONG_TOKENS} tokens) + {SHORT} short ({SHORT_TOKENS} tokens) arriving together"
    )
    print(f"{'model':<18} {'short alone p50':>16} {'short mixed p50':>16} {'ratio':>7}   goal <= 2x")
    for label, row in results.items():
        m = row["mixed"]
        print(
            f"{label:<18} {m['short_alone_p50_s'] * 1000:>13.0f} ms {m['short_mixed_p50_s'] * 1000:>13.0f} ms "
            f"{m['ratio']:>6.2f}x   {'met' if m['ratio'] <= 2 else 'MISSED'}"
        )
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "engine.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
