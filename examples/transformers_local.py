"""A transformers model run in this process on CPU, behind llmprod's stack.

    python examples/transformers_local.py                 # builds a tiny random-weight model
    python examples/transformers_local.py /path/to/model  # or a real one (HF_HUB_OFFLINE=1 to stay local)

With torch and transformers installed (``pip install torch==2.13.0 'llmprod[transformers]'``)
it sends 16 concurrent questions, which the engine generates together (continuous
batching: each joins the running batch at the next step), streams one answer, then runs
the same model with int8 weights. With
no model given it builds a tiny random-weight Llama offline first, so the answers are
gibberish but the generation is real; it takes a few seconds. Without torch it says why
and runs the same calls against the simulated provider, so the script always runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import tempfile
import time

import llmprod


def pick_backend(folder: str) -> llmprod.backends.Backend:
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        print("torch/transformers not installed (pip install torch==2.13.0 'llmprod[transformers]'):")
        print("running against the simulated provider instead.\n")
        return llmprod.Simulated(model="sim-small", tokens_per_second=300)
    model = sys.argv[1] if len(sys.argv) > 1 else None
    if model is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from llmprod.testing.tiny_model import build_tiny_model

        model = str(build_tiny_model(folder))
        print(f"built a tiny random-weight model in {model}")
    return llmprod.Transformers(model, device="cpu", max_batch_size=16, batch_window_ms=10, threads=2)


async def main(folder: str) -> None:
    backend = pick_backend(folder)
    if isinstance(backend, llmprod.Transformers):
        started = time.perf_counter()
        await backend.start()  # load the weights now, not inside the first call's deadline
        print(f"model loaded in {time.perf_counter() - started:.1f} s")
    system = "You are a concise assistant for an operations team."
    async with llmprod.AsyncClient(backend, timeout=llmprod.Timeout(total=120, attempt=120)) as client:
        started = time.perf_counter()
        questions = [f"In one sentence: what is failure mode number {i} of a GPU cluster?" for i in range(16)]
        answers = await asyncio.gather(*(client.chat(q, system=system, max_tokens=32) for q in questions))
        elapsed = time.perf_counter() - started
        tokens = sum(a.usage.completion_tokens for a in answers)
        print(f"16 concurrent answers: {tokens} tokens in {elapsed:.2f} s ({tokens / elapsed:.0f} tokens/s)")
        if isinstance(backend, llmprod.Transformers):
            print(
                f"the engine prefilled them in {backend.stats.batches} group(s); "
                f"at most {backend.stats.largest_batch} generating at once"
            )
        print(f"first answer: {answers[0].text[:80]!r}\n")
        async for chunk in client.stream("Write a haiku about batching.", system=system, max_tokens=24):
            print(chunk.text, end="", flush=True)
        print()
    if isinstance(backend, llmprod.Transformers):
        quantized = llmprod.Transformers(backend.model, quantization="int8", threads=2)
        async with llmprod.AsyncClient(quantized) as client:
            answer = await client.chat("Write a haiku about batching.", system=system, max_tokens=24)
        print(f"\nint8 weights (torch dynamic quantization, CPU): {answer.text[:60]!r}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
