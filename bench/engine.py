"""Transformers engine benchmark: continuous batching on CPU, two figures, in one run.

    python bench/engine.py           # table on stdout; JSON in $LLMPROD_BENCH_OUT/engine.json

1. Throughput: 64 concurrent greedy requests of 64 new tokens each, against the same 64
   generated one at a time (``max_batch_size=1``). Tokens/s counts generated tokens over
   the wall time of the whole burst. Goal: at least 8x.
2. Mixed load: 4 long requests (400 new tokens) and 16 short ones (8 new tokens) arrive
   together; the short ones' p50 latency against the p50 of the same short requests sent
   alone, one after another, to an idle engine. Goal: at most 2x.

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
THREADS = 2
MODELS = {"tiny (h64 x 2)": {}, "small (h256 x 4)": {"hidden_size": 256, "num_layers": 4, "num_heads": 8}}


def _ask(text: str, tokens: int) -> Any:
    from llmprod import ChatRequest, Message

    return ChatRequest(messages=(Message("user", text),), max_tokens=tokens, temperature=0.0)


async def _engine(model: Path, max_batch_size: int) -> Any:
    import llmprod

    backend = llmprod.Transformers(str(model), max_batch_size=max_batch_size, batch_window_ms=5, threads=THREADS)
    await backend.start()
    await backend.complete(_ask("warm up", 4))
    return backend


async def burst(model: Path, max_batch_size: int) -> dict[str, float]:
    backend = await _engine(model, max_batch_size)
    try:
        requests = [_ask(f"request {i}: write about the river", NEW_TOKENS) for i in range(CONCURRENT)]
        started = time.perf_counter()
        answers = await asyncio.gather(*(backend.complete(r) for r in requests))
        wall = time.perf_counter() - started
        tokens = sum(a.usage.completion_tokens for a in answers)
        return {"tokens": tokens, "seconds": wall, "tokens_per_s": tokens / wall}
    finally:
        await backend.aclose()


async def _timed(backend: Any, request: Any) -> float:
    started = time.perf_counter()
    await backend.complete(request)
    return time.perf_counter() - started


async def mixed(model: Path) -> dict[str, float]:
    backend = await _engine(model, LONG + SHORT)
    shorts = [_ask(f"short question {i}", SHORT_TOKENS) for i in range(SHORT)]
    longs = [_ask(f"long story {i}: tell it all", LONG_TOKENS) for i in range(LONG)]
    try:
        alone = [await _timed(backend, r) for r in shorts]
        together = await asyncio.gather(*(_timed(backend, r) for r in [*longs, *shorts]))
        short_mixed = together[LONG:]
        return {
            "short_alone_p50_s": statistics.median(alone),
            "short_mixed_p50_s": statistics.median(short_mixed),
            "long_mixed_p50_s": statistics.median(together[:LONG]),
            "ratio": statistics.median(short_mixed) / statistics.median(alone),
        }
    finally:
        await backend.aclose()


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
            one = asyncio.run(burst(path, 1))
            batched = asyncio.run(burst(path, CONCURRENT))
            results[label] = {
                "one_at_a_time": one,
                "batched": batched,
                "ratio": batched["tokens_per_s"] / one["tokens_per_s"],
                "mixed": asyncio.run(mixed(path)),
            }
    print(f"\n1. {CONCURRENT} concurrent requests x {NEW_TOKENS} new tokens, greedy, CPU, torch threads={THREADS}")
    print(f"{'model':<18} {'one at a time':>16} {'batched':>16} {'ratio':>7}   goal >= 8x")
    for label, row in results.items():
        one, batched = row["one_at_a_time"], row["batched"]
        print(
            f"{label:<18} {one['tokens_per_s']:>11.0f} tok/s {batched['tokens_per_s']:>11.0f} tok/s "
            f"{row['ratio']:>6.1f}x   {'met' if row['ratio'] >= 8 else 'MISSED'}"
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
