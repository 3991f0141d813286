"""``llmprod bench URL``: a load generator for any OpenAI-compatible endpoint.

It measures the endpoint, not llmprod: calls go through a bare client (no retries,
no breaker, no cache) so every request reaches the server once.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from .._core.errors import LLMProdError
from ..telemetry._charts import text_histogram

Progress = Callable[[int, int, float], None]  # (done, total, elapsed seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSpec:
    url: str
    model: str
    requests: int = 200
    concurrency: int = 16
    prompt_words: int = 64
    max_tokens: int = 64
    stream: bool = False
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0


@dataclass(slots=True)
class LoadResult:
    requests: int
    errors: int
    elapsed_s: float
    rps: float
    latency_ms: dict[str, float]
    ttft_ms: dict[str, float] | None
    output_tokens_per_s: float
    error_rate: float
    error_kinds: dict[str, int]
    latencies_ms: list[float]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 (inclusive method) and the mean; empty input gives an empty dict."""
    if not values:
        return {}
    if len(values) == 1:
        return {"p50": values[0], "p95": values[0], "p99": values[0], "mean": values[0]}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "mean": statistics.fmean(values)}


def progress_line(done: int, total: int, elapsed: float) -> str:
    """``  37/200 requests  18%  12.3 req/s  ETA 13.2 s`` (the rate so far, the rest at that rate)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = f"{(total - done) / rate:.1f} s" if rate > 0 else "-"
    width = len(str(total))
    return f"  {done:>{width}}/{total} requests {done / total:>4.0%}  {rate:6.1f} req/s  ETA {eta}"


def stderr_progress(total: int, out: TextIO | None = None) -> Progress:
    """Progress on stderr: one line redrawn in place on a terminal, else a line per 10%."""
    stream = out if out is not None else sys.stderr
    tty = stream.isatty()
    state = {"shown": -1.0, "step": -1}

    def show(done: int, total_: int, elapsed: float) -> None:
        if tty:
            if done == total_ or elapsed - state["shown"] >= 0.1:
                state["shown"] = elapsed
                end = "\n" if done == total_ else ""
                stream.write("\r" + progress_line(done, total_, elapsed) + end)
                stream.flush()
            return
        step = done * 10 // total_
        if step > state["step"]:
            state["step"] = step
            stream.write(progress_line(done, total_, elapsed) + "\n")

    return show


async def run_load(spec: LoadSpec, progress: Progress | None = None) -> LoadResult:
    from .._client.async_client import AsyncClient
    from ..backends.openai import OpenAICompatible

    backend = OpenAICompatible(model=spec.model, base_url=spec.url, api_key=spec.api_key or "none")
    prompt = " ".join(["word"] * spec.prompt_words)
    latencies: list[float] = []
    ttfts: list[float] = []
    tokens = 0
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(spec.concurrency)
    done = 0
    async with AsyncClient(backend, retry=None, breaker=None, telemetry=False) as client:

        async def one() -> None:
            nonlocal tokens, done
            async with gate:
                started = time.perf_counter()
                try:
                    if spec.stream:
                        first: float | None = None
                        async for chunk in client.stream(prompt, max_tokens=spec.max_tokens, timeout=spec.timeout):
                            if first is None and chunk.text:
                                first = time.perf_counter()
                            if chunk.usage is not None:
                                tokens += chunk.usage.completion_tokens
                        if first is not None:
                            ttfts.append((first - started) * 1000)
                    else:
                        r = await client.chat(prompt, max_tokens=spec.max_tokens, timeout=spec.timeout)
                        tokens += r.usage.completion_tokens
                    latencies.append((time.perf_counter() - started) * 1000)
                except LLMProdError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                done += 1
                if progress is not None:
                    progress(done, spec.requests, time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(spec.requests)))
        elapsed = time.perf_counter() - began
    failed = sum(errors.values())
    return LoadResult(
        requests=spec.requests,
        errors=failed,
        elapsed_s=elapsed,
        rps=spec.requests / elapsed,
        latency_ms=percentiles(latencies),
        ttft_ms=percentiles(ttfts) if spec.stream else None,
        output_tokens_per_s=tokens / elapsed,
        error_rate=failed / spec.requests,
        error_kinds=errors,
        latencies_ms=latencies,
    )


def format_result(spec: LoadSpec, result: LoadResult) -> str:
    def row(name: str, p: dict[str, float] | None) -> str:
        if not p:
            return f"  {name:<12} -"
        return f"  {name:<12} p50 {p['p50']:8.1f}  p95 {p['p95']:8.1f}  p99 {p['p99']:8.1f}  ms"

    lines = [
        f"llmprod bench {spec.url}  model={spec.model}  requests={spec.requests}  concurrency={spec.concurrency}"
        f"  stream={spec.stream}",
        f"  throughput   {result.rps:8.1f} req/s   {result.output_tokens_per_s:8.1f} output tokens/s",
        row("latency", result.latency_ms),
    ]
    if spec.stream:
        lines.append(row("ttft", result.ttft_ms))
    lines.append(f"  errors       {result.errors} ({result.error_rate:.1%}) {result.error_kinds or ''}".rstrip())
    lines.append("  latency histogram (successful requests)")
    lines.extend(text_histogram(result.latencies_ms, unit="ms"))
    return "\n".join(lines)


def write_outputs(result: LoadResult, json_path: Path | None, png_path: Path | None) -> list[str]:
    """Write the JSON result and, when matplotlib is installed, a latency histogram."""
    notes = []
    if json_path is not None:
        data = asdict(result)
        json_path.write_text(json.dumps(data, indent=2))
        notes.append(f"wrote {json_path}")
    if png_path is not None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            notes.append("matplotlib is not installed: no PNG (pip install 'llmprod[notebook]')")
        else:
            fig, ax = plt.subplots(figsize=(7, 4))
            ax.hist(result.latencies_ms, bins=40)
            ax.set_xlabel("latency (ms)")
            ax.set_ylabel("requests")
            ax.set_title("llmprod bench: latency")
            fig.tight_layout()
            fig.savefig(png_path)
            plt.close(fig)
            notes.append(f"wrote {png_path}")
    return notes
