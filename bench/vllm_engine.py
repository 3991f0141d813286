"""vLLM engine benchmark: ``llmprod.VLLM`` against raw ``AsyncLLM``, one engine, one run.

    nox -s vllm -- bench                 # or, where vLLM is installed:
    python bench/vllm_engine.py          # table on stdout; JSON in $LLMPROD_BENCH_OUT/vllm_engine.json

One engine (vLLM's CPU build here, a tiny random Llama built offline with head size 64)
serves three callers in alternating rounds, on the same prompts: raw ``AsyncLLM`` (apply
the chat template, ``engine.generate`` with ``DELTA`` outputs), ``llmprod.VLLM.stream``
(the backend alone), and ``AsyncClient.stream`` over it (the whole stack with its
defaults: retry, breaker, timeouts). Each round sends 64, then 256, concurrent greedy
streams of 32 tokens. Tokens/s counts generated tokens over the burst's wall time; time
to first token (TTFT) is from the burst's start to each stream's first text. Goals:
llmprod at least 0.97x raw tokens/s, and TTFT p50 within 1 ms of raw.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROUNDS = 6
CONCURRENCY = (64, 256)
NEW_TOKENS = 32
MAX_LEN = 512


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question {i}: why does batching help inference?"}]


async def _burst(n: int, one: Callable[[int, float], Awaitable[tuple[float, int]]]) -> dict[str, float]:
    started = time.perf_counter()
    results = await asyncio.gather(*(one(i, started) for i in range(n)))
    wall = time.perf_counter() - started
    tokens = sum(r[1] for r in results)
    return {"tokens_per_s": tokens / wall, "ttft_p50_ms": statistics.median(r[0] for r in results) * 1000}


async def run() -> dict[str, Any]:
    import llmprod
    from llmprod import Message
    from llmprod.backends import ChatRequest
    from llmprod.testing.tiny_model import VLLM_CPU_SHAPE, build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "model", max_positions=MAX_LEN, **VLLM_CPU_SHAPE)
        backend = llmprod.VLLM(
            str(model), gpu_memory_utilization=0.1, max_model_len=MAX_LEN, max_num_seqs=max(CONCURRENCY)
        )
        await backend.start()
        engine = backend.engine
        client = llmprod.AsyncClient(backend, telemetry=False)
        from vllm.inputs.engine import tokens_input
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        tokenizer = engine.get_tokenizer()

        async def raw(i: int, started: float) -> tuple[float, int]:
            ids = tokenizer.apply_chat_template(_messages(i), tokenize=True, add_generation_prompt=True)
            ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
            params = SamplingParams(max_tokens=NEW_TOKENS, temperature=0.0, output_kind=RequestOutputKind.DELTA)
            first, tokens = 0.0, 0
            async for output in engine.generate(tokens_input(ids), params, f"raw-{i}-{time.time_ns()}"):
                tokens += len(output.outputs[0].token_ids)
                if not first and output.outputs[0].text:
                    first = time.perf_counter() - started
            return first, tokens

        def request(i: int) -> ChatRequest:
            text = _messages(i)[0]["content"]
            return ChatRequest(messages=(Message("user", text),), max_tokens=NEW_TOKENS, temperature=0.0)

        async def through(stream: Callable[[ChatRequest], Any], i: int, started: float) -> tuple[float, int]:
            first, tokens = 0.0, 0
            async for chunk in stream(request(i)):
                if not first and chunk.text:
                    first = time.perf_counter() - started
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            return first, tokens

        callers: dict[str, Callable[[int, float], Awaitable[tuple[float, int]]]] = {
            "raw AsyncLLM": raw,
            "llmprod.VLLM": lambda i, s: through(backend.stream, i, s),
            "AsyncClient": lambda i, s: through(
                lambda r: client.stream(messages=r.messages, max_tokens=NEW_TOKENS, temperature=0.0), i, s
            ),
        }
        for n in CONCURRENCY:  # warm-up: every path, every size
            for caller in callers.values():
                await _burst(n, caller)
        results: dict[str, Any] = {str(n): {name: [] for name in callers} for n in CONCURRENCY}
        for r in range(ROUNDS):
            order = list(callers.items())
            order = order[r % len(order) :] + order[: r % len(order)]  # rotate who goes first
            for n in CONCURRENCY:
                for name, caller in order:
                    results[str(n)][name].append(await _burst(n, caller))
        await client.aclose()
        return results


def _table(results: dict[str, Any]) -> None:
    """Medians over the rounds; each ratio and difference is paired within its round."""
    print(f"\n{ROUNDS} alternating rounds, {NEW_TOKENS} greedy tokens a stream, one engine (vLLM CPU build)")
    print(f"{'concurrent':>10} {'caller':<14} {'tokens/s':>10} {'vs raw':>8} {'TTFT p50':>10} {'vs raw':>9}   goals")
    for n, by_caller in results.items():
        raw = by_caller["raw AsyncLLM"]
        for name, rounds in by_caller.items():
            tps = statistics.median(r["tokens_per_s"] for r in rounds)
            ttft = statistics.median(r["ttft_p50_ms"] for r in rounds)
            ratio = statistics.median(r["tokens_per_s"] / b["tokens_per_s"] for r, b in zip(rounds, raw, strict=True))
            delta = statistics.median(r["ttft_p50_ms"] - b["ttft_p50_ms"] for r, b in zip(rounds, raw, strict=True))
            goals = ""
            if name != "raw AsyncLLM":
                speed = "met" if ratio >= 0.97 else "MISSED"
                latency = "met" if delta <= 1.0 else "MISSED"
                goals = f"{speed} (>= 0.97x), {latency} (<= +1 ms)"
            print(f"{n:>10} {name:<14} {tps:>10.0f} {ratio:>7.3f}x {ttft:>8.1f}ms {delta:>+7.1f}ms   {goals}")


def main() -> int:
    try:
        import vllm  # noqa: F401
    except ImportError:
        print("bench/vllm_engine.py: skipped (needs vLLM: nox -s vllm -- bench)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = asyncio.run(run())
    _table(results)
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "vllm_engine.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":  # vLLM starts its engine process with spawn (the guard is good practice)
    sys.exit(main())
