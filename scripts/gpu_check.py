"""Check an in-process engine on a real GPU: load, 64 concurrent calls, stream, cancel.

Plain Python, run with the GPU machine's own interpreter from the repository root (no nox,
no virtualenv)::

    python3 scripts/gpu_check.py --model /path/to/a/small/chat/model
    LLMPROD_GPU_MODEL=/models/qwen2.5-0.5b-instruct python3 scripts/gpu_check.py
    python3 scripts/gpu_check.py --engine transformers      # no model: builds the tiny one

With vLLM installed it checks the vLLM backend with the checks of
``tests/engines/test_vllm.py`` (64 calls in the engine at once, tokens/s against one at a
time, a stream, a too-long prompt and a bad sampling value typed, prefix-cache hits, cancel
and stop-reading leaving no request in the engine, ``aclose()`` ending calls in flight),
on ``--model`` or, without one, a tiny random-weight model it builds offline; on vLLM's
CPU build the same checks run on CPU. Where vLLM is not installed (or with
``--engine transformers``) it checks the transformers backend instead, on the GPU
(``--device cpu`` runs the same checks on CPU): with ``--model`` or, without one, a tiny
random-weight model it builds offline (``llmprod.testing.tiny_model``), plus assisted
decoding with a draft model (the tiny one's smaller sibling, or ``--draft-model``).

It imports only what it needs: the standard library, the engine (vLLM, or torch and
transformers), and ``llmprod.backends.vllm`` or ``llmprod.backends.transformers`` (which
need nothing from llmprod's own dependencies: no httpx, tenacity, pybreaker, cachetools
or opentelemetry). A model must be a local folder (or already in the Hugging Face
cache): the machine may have no network. It prints one line per check and the figures,
and exits 1 if a check fails. With no engine installed it says so and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CONCURRENCY = 64


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get("LLMPROD_GPU_MODEL"), help="local model folder")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--gpu-memory-utilization", type=float, default=None, help="vLLM: 0.5 on a GPU, 0.1 on CPU")
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
    return asyncio.run(check_vllm(args.model, args.max_tokens, args.gpu_memory_utilization))


async def check_vllm(model: str | None, max_tokens: int, memory: float | None) -> int:
    """The checks of tests/engines/test_vllm.py, as plain Python, on whatever device this vLLM uses."""
    import tempfile

    import vllm
    from _engine_checks import Checks, asker, check_stream
    from vllm.platforms import current_platform

    from llmprod.backends.vllm import VLLM

    on_cpu = current_platform.device_type == "cpu"
    # On vLLM's CPU build this is the share of host memory for the KV cache: 0.5 would not start.
    memory = memory if memory is not None else (0.1 if on_cpu else 0.5)
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            from llmprod.testing.tiny_model import VLLM_CPU_SHAPE, build_tiny_model

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            model = str(build_tiny_model(Path(tmp) / "tiny", max_positions=2048, **VLLM_CPU_SHAPE))
            print(f"model: a tiny random-weight Llama built here ({model})")
        print(f"vllm {vllm.__version__} on {current_platform.device_type}; model {model}")
        backend = VLLM(
            model,
            gpu_memory_utilization=memory,
            max_model_len=2048,
            max_num_seqs=CONCURRENCY,
            enable_prefix_caching=True,
        )
        return await _vllm_checks(backend, asker(max_tokens), Checks(), check_stream)


async def _vllm_checks(backend: Any, ask: Any, check: Any, check_stream: Any) -> int:
    from llmprod._core.errors import ContextWindowExceededError, InvalidRequestError, ServerError
    from llmprod._core.models import ChatRequest, Message

    started = time.perf_counter()
    await backend.start()
    check("load", True, f"engine ready in {time.perf_counter() - started:.1f} s")
    await backend.complete(ask(-1, 8))  # warm-up (CUDA graphs, caches)
    unfinished = backend.engine.get_num_unfinished_requests  # vLLM's own count of live requests

    # One at a time, then 64 at once: the ratio shows the calls really batch in the engine.
    started = time.perf_counter()
    sequential = [await backend.complete(ask(i)) for i in range(4)]
    one_at_a_time = sum(r.usage.completion_tokens for r in sequential) / (time.perf_counter() - started)
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, unfinished())
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    answers = await asyncio.gather(*(backend.complete(ask(i)) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    watcher.cancel()
    batched = sum(r.usage.completion_tokens for r in answers) / elapsed
    check("64 concurrent", all(r.text for r in answers) and most == CONCURRENCY, f"{most} in the engine at once")
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

    def request(text: str, **options: Any) -> ChatRequest:
        return ChatRequest(messages=(Message("user", text),), **options)

    try:
        await backend.complete(request("word " * 3000, max_tokens=4))
        check("too long", False, "a prompt over max_model_len was answered")
    except ContextWindowExceededError as exc:
        check("too long", True, f"ContextWindowExceededError: {str(exc)[:80]}")
    try:
        await backend.complete(request("x", max_tokens=4, extra_body={"top_k": -5}))
        check("bad sampling", False, "top_k=-5 was accepted")
    except InvalidRequestError as exc:
        check("bad sampling", exc.field == "top_k", f"InvalidRequestError on {exc.field}")

    prefix = "a shared preamble " + " ".join(f"clause{i}" for i in range(300))
    await backend.complete(request(prefix + " first", max_tokens=2))
    second = await backend.complete(request(prefix + " second", max_tokens=2))
    check("prefix cache", second.usage.cached_tokens > 0, f"{second.usage.cached_tokens} prompt tokens from the cache")

    got_first = asyncio.Event()

    async def long_stream() -> None:
        async for _ in backend.stream(ask(1, 1500)):
            got_first.set()

    task = asyncio.create_task(long_stream())
    await asyncio.wait_for(got_first.wait(), 60)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    check("cancel", unfinished() == 0, f"unfinished requests in the engine after cancel: {unfinished()}")
    stream = backend.stream(ask(2, 1500))
    await anext(stream)
    await stream.aclose()
    check("stop reading", unfinished() == 0, f"unfinished requests after the caller stopped reading: {unfinished()}")

    errors: list[BaseException] = []
    firsts = [asyncio.Event() for _ in range(4)]

    async def in_flight(i: int) -> None:
        try:
            async for _ in backend.stream(ask(10 + i, 1500)):
                firsts[i].set()
        except Exception as exc:
            errors.append(exc)

    tasks = [asyncio.create_task(in_flight(i)) for i in range(4)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in firsts)), 60)
    started = time.perf_counter()
    await backend.aclose()
    done, _ = await asyncio.wait(tasks, timeout=10)
    typed = len(done) == 4 and all(isinstance(e, ServerError) and not e.retryable for e in errors) and len(errors) == 4
    check(
        "shutdown",
        typed and backend.engine is None,
        f"4 calls in flight ended in {time.perf_counter() - started:.1f} s",
    )
    print("all checks passed" if not check.failures else f"FAILED: {', '.join(check.failures)}")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
