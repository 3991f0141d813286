"""Transformers engine benchmark: dynamic batching against one request at a time, on CPU.

    python bench/engine.py           # table on stdout; JSON in $LLMPROD_BENCH_OUT/engine.json

16 concurrent greedy requests of 64 new tokens each, on two tiny random-weight models
built offline (hidden 64 x 2 layers, and hidden 256 x 4 layers). The baseline is the
same engine with ``max_batch_size=1`` (each request generated alone, in turn); the other
column is dynamic batching (``max_batch_size=16``). Tokens/s counts generated tokens
over the wall time of the whole burst. Needs torch and transformers
(``pip install torch==2.13.0 'llmprod[transformers]'``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REQUESTS = 16
NEW_TOKENS = 64
THREADS = 2
MODELS = {"tiny (h64 x 2)": {}, "small (h256 x 4)": {"hidden_size": 256, "num_layers": 4, "num_heads": 8}}


async def burst(model: Path, max_batch_size: int) -> dict[str, float]:
    import llmprod
    from llmprod import Message
    from llmprod.backends import ChatRequest

    backend = llmprod.Transformers(str(model), max_batch_size=max_batch_size, batch_window_ms=5, threads=THREADS)
    await backend.start()
    try:
        warm = ChatRequest(messages=(Message("user", "warm up"),), max_tokens=4)
        await backend.complete(warm)
        requests = [
            ChatRequest(messages=(Message("user", f"request {i}: write about the river"),), max_tokens=NEW_TOKENS)
            for i in range(REQUESTS)
        ]
        started = time.perf_counter()
        answers = await asyncio.gather(*(backend.complete(r) for r in requests))
        wall = time.perf_counter() - started
        tokens = sum(a.usage.completion_tokens for a in answers)
        return {"tokens": tokens, "seconds": wall, "tokens_per_s": tokens / wall, "batches": backend.stats.batches - 1}
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
            batched = asyncio.run(burst(path, REQUESTS))
            results[label] = {
                "one_at_a_time": one,
                "batched": batched,
                "ratio": batched["tokens_per_s"] / one["tokens_per_s"],
            }
    print(f"\n{REQUESTS} concurrent requests x {NEW_TOKENS} new tokens, greedy, CPU, torch threads={THREADS}")
    print(f"{'model':<18} {'one at a time':>16} {'batched':>16} {'ratio':>7}   batches (one at a time / batched)")
    for label, row in results.items():
        one, batched = row["one_at_a_time"], row["batched"]
        print(
            f"{label:<18} {one['tokens_per_s']:>11.0f} tok/s {batched['tokens_per_s']:>11.0f} tok/s "
            f"{row['ratio']:>6.1f}x   {int(one['batches'])} / {int(batched['batches'])}"
        )
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "engine.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
