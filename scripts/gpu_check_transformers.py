"""The transformers-engine half of ``scripts/gpu_check.py`` (run that script, not this one).

Checks ``llmprod.backends.transformers.Transformers`` on a device: load, one request at a
time vs 64 concurrent (continuous batching), streaming, usage, cancellation, assisted
decoding, shutdown. Needs torch and transformers only (and the standard library).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

CONCURRENCY = 64


async def check_transformers(model: str | None, draft: str | None, device: str, max_tokens: int) -> int:
    import torch
    import transformers
    from _engine_checks import Checks, asker, check_stream

    from llmprod.backends.transformers import Transformers

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"transformers: torch {torch.__version__} sees no CUDA device; pass --device cpu to check on CPU.")
        return 2
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}, transformers {transformers.__version__}; device {device} ({where})")
    check = Checks()
    failures = check.failures
    ask = asker(max_tokens)

    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            from llmprod.testing.tiny_model import build_tiny_model

            model = str(build_tiny_model(Path(tmp) / "tiny", hidden_size=256, num_layers=4, num_heads=8))
            draft = draft or str(build_tiny_model(Path(tmp) / "draft", hidden_size=64, num_layers=1, num_heads=2))
            print(f"model: a tiny random-weight Llama built here ({model}); draft {draft}")
        backend = Transformers(model, device=device, max_batch_size=CONCURRENCY, batch_window_ms=20)
        started = time.perf_counter()
        await backend.start()
        check("load", True, f"engine ready in {time.perf_counter() - started:.1f} s")
        await backend.complete(ask(-1, 8))  # warm-up

        started = time.perf_counter()
        sequential = [await backend.complete(ask(i)) for i in range(4)]
        one_at_a_time = sum(r.usage.completion_tokens for r in sequential) / (time.perf_counter() - started)
        before = backend.stats.batches
        started = time.perf_counter()
        answers = await asyncio.gather(*(backend.complete(ask(i)) for i in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        batched = sum(r.usage.completion_tokens for r in answers) / elapsed
        batches = backend.stats.batches - before
        check(
            "64 concurrent",
            all(r.usage.completion_tokens for r in answers),
            f"{len(answers)} answers in {elapsed:.2f} s",
        )
        check(
            "batching",
            batches < CONCURRENCY and batched > one_at_a_time,
            f"{batched:.0f} tokens/s at 64 concurrent in {batches} batches (largest "
            f"{backend.stats.largest_batch}) vs {one_at_a_time:.0f} one at a time ({batched / one_at_a_time:.1f}x)",
        )
        greedy = sequential[0].text
        print(f"info same greedy answer alone and in a batch of 64: {answers[0].text == greedy}")

        await check_stream(backend, ask(0), greedy, check)

        got_first = asyncio.Event()

        async def long_stream() -> None:
            async for _ in backend.stream(ask(1, 1500)):
                got_first.set()

        cancelled_before = backend.stats.cancelled
        task = asyncio.create_task(long_stream())
        await asyncio.wait_for(got_first.wait(), 60)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for _ in range(3000):  # up to 30 s for the engine to reach its next token and drop the request
            if not backend.stats.active and backend.stats.cancelled > cancelled_before:
                break
            await asyncio.sleep(0.01)
        check("cancel", backend.stats.cancelled == cancelled_before + 1, "the engine dropped the request")

        thread = backend.engine.thread if backend.engine else None
        await backend.aclose()
        check("shutdown", thread is not None and not thread.is_alive(), "generating thread joined")

        if draft:
            assisted = Transformers(model, device=device, draft_model=draft)
            started = time.perf_counter()
            answer = await assisted.complete(ask(0))
            elapsed = time.perf_counter() - started
            await assisted.aclose()
            check(
                "assisted",
                answer.usage.completion_tokens > 0,
                f"{answer.usage.completion_tokens / elapsed:.0f} tokens/s",
            )
            print(f"info assisted greedy answer equals plain greedy: {answer.text == greedy}")
    left = [t.name for t in threading.enumerate() if t.name.startswith("llmprod-")]
    check("threads", not left, f"engine threads left: {left}")
    print("all checks passed" if not failures else f"FAILED: {', '.join(failures)}")
    return 1 if failures else 0
