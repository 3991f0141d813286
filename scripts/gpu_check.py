"""Check an in-process engine on a real GPU: load, 64 concurrent calls, stream, cancel.

Plain Python, run with the GPU machine's own interpreter from the repository root (no nox,
no virtualenv)::

    python3 scripts/gpu_check.py --model /path/to/a/small/chat/model
    LLMPROD_GPU_MODEL=/models/qwen2.5-0.5b-instruct python3 scripts/gpu_check.py
    python3 scripts/gpu_check.py --engine transformers      # no model: builds the tiny one

With vLLM installed it checks the vLLM backend. Where vLLM is not installed (or with
``--engine transformers``) it checks the transformers backend instead, on the GPU
(``--device cpu`` runs the same checks on CPU): with ``--model`` or, without one, a tiny
random-weight model it builds offline (``llmprod.testing.tiny_model``), plus assisted
decoding with a draft model (the tiny one's smaller sibling, or ``--draft-model``).

It imports only what it needs: the standard library, the engine (vLLM, or torch and
transformers), and ``llmprod.backends.vllm`` or ``llmprod.backends.transformers`` (which
need nothing from llmprod's own dependencies: no httpx, tenacity, pybreaker, cachetools
or opentelemetry). A model must be a local folder (or already in the Hugging Face
cache): the machine may have no network. It prints one line per check and the figures,
and exits 1 if a check fails. With no engine installed it says so and exits 0; with
vLLM but no model it exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CONCURRENCY = 64


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get("LLMPROD_GPU_MODEL"), help="local model folder")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    parser.add_argument("--engine", choices=("auto", "vllm", "transformers"), default="auto")
    parser.add_argument("--device", default="cuda", help="transformers engine only: cuda, cuda:N or cpu")
    parser.add_argument("--draft-model", default=None, help="transformers engine only: draft for assisted decoding")
    args = parser.parse_args()
    has_vllm = importlib.util.find_spec("vllm") is not None
    if args.engine == "transformers" or (args.engine == "auto" and not has_vllm):
        if not has_vllm:
            print("vllm: not installed on this machine; checking the transformers engine instead.")
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
            print("transformers: torch or transformers not installed either; nothing to check.")
            return 0
        from gpu_check_transformers import check_transformers

        return asyncio.run(check_transformers(args.model, args.draft_model, args.device, args.max_tokens))
    if not has_vllm:
        print("vllm: not installed on this machine; the vLLM check was skipped (pip install 'llmprod[vllm]').")
        return 0
    if not args.model:
        print("vllm: installed, but no model given: pass --model PATH or set LLMPROD_GPU_MODEL.")
        return 2
    return asyncio.run(check_vllm(args.model, args.max_tokens, args.gpu_memory_utilization))


async def check_vllm(model: str, max_tokens: int, memory: float) -> int:
    import vllm
    from _engine_checks import Checks, asker, check_stream

    from llmprod.backends.vllm import VLLM

    print(f"vllm {vllm.__version__}; model {model}")
    backend = VLLM(
        model,
        gpu_memory_utilization=memory,
        max_model_len=2048,
        max_num_seqs=CONCURRENCY,
        enable_prefix_caching=True,
        engine_args={"disable_log_stats": True},
    )
    check = Checks()
    failures = check.failures
    ask = asker(max_tokens)

    started = time.perf_counter()
    await backend.start()
    check("load", True, f"engine ready in {time.perf_counter() - started:.1f} s")
    await backend.complete(ask(-1, 8))  # warm-up (CUDA graphs, caches)

    # One at a time, then 64 at once: the ratio shows the calls really batch in the engine.
    started = time.perf_counter()
    sequential = [await backend.complete(ask(i)) for i in range(4)]
    one_at_a_time = sum(r.usage.completion_tokens for r in sequential) / (time.perf_counter() - started)
    started = time.perf_counter()
    answers = await asyncio.gather(*(backend.complete(ask(i)) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    batched = sum(r.usage.completion_tokens for r in answers) / elapsed
    check("64 concurrent", all(r.text for r in answers), f"{len(answers)} answers in {elapsed:.2f} s")
    check(
        "batching",
        batched > 4 * one_at_a_time,
        f"{batched:.0f} tokens/s at 64 concurrent vs {one_at_a_time:.0f} one at a time "
        f"({batched / one_at_a_time:.1f}x)",
    )
    greedy = sequential[0].text
    # Informational: vLLM's kernels are not batch-invariant, so a greedy answer may differ in a batch.
    print(f"info same greedy answer alone and in a batch of 64: {answers[0].text == greedy}")

    await check_stream(backend, ask(0), greedy, check)

    got_first = asyncio.Event()

    async def long_stream() -> None:
        async for _ in backend.stream(ask(1, 1500)):
            got_first.set()

    task = asyncio.create_task(long_stream())
    await asyncio.wait_for(got_first.wait(), 60)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.5)  # let the engine process the abort before counting
    processor = getattr(backend.engine, "output_processor", None)
    unfinished = processor.get_num_unfinished_requests() if processor is not None else None
    check("cancel", unfinished in (0, None), f"unfinished requests in the engine after cancel: {unfinished}")

    await backend.aclose()
    check("shutdown", backend.engine is None, "engine shut down")
    print("all checks passed" if not failures else f"FAILED: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
