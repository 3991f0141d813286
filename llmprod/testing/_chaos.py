"""A chaos run: calls through the whole client and real HTTP against two fault servers
that fail a share of attempts in every way a provider does, and what came back.

Each server speaks one wire (OpenAI's, as vLLM's server; Anthropic's) and answers each
request with the next item of a seeded plan: about ``fault_rate`` of them a fault drawn
evenly from :func:`faults` (429 with Retry-After, 500, 503, a reset, a body cut
mid-way, a stall before the answer or in the middle of a stream, a malformed 200, a
stream cut after its first chunk), the rest a clean answer. Half the calls are chats,
half streams; every answer is checked against the one the server gives without faults.
``bench/chaos.py`` prints the figures; a test runs a small seeded version.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .._core.backend import Backend
from .._core.config import Retry, Timeout
from .._core.errors import LLMProdError
from .._core.events import BreakerStateChanged
from ._fault import Fault
from ._server import FaultServer

Mode = Literal["chat", "stream"]
STALL = 2.0  # seconds a stalled answer waits: past the attempt timeout and the idle timeout
TIMEOUT = Timeout(total=10, attempt=1.0, connect=1.0, stream_idle=0.3, grace=0.5)
HUNG_AFTER = TIMEOUT.total + TIMEOUT.grace + 5.0  # a call still running then has hung


def faults(first_text_frame: int) -> dict[str, Fault]:
    """Every kind of fault, for a wire whose first text arrives in frame ``first_text_frame``."""
    return {
        "429 Retry-After": Fault.error(429, retry_after=0.05),
        "500": Fault.error(500),
        "503": Fault.error(503),
        "reset": Fault.reset(),
        "cut mid-body": Fault(drop="close", after=first_text_frame + 4),
        "stall before the answer": Fault(delay=STALL),
        "stall mid-stream": Fault.stall(after=first_text_frame + 3, seconds=STALL),
        "malformed 200": Fault.garbage(after=first_text_frame + 1),
        "stream cut after its first chunk": Fault.cut(after=first_text_frame + 1),
    }


@dataclass
class Tally:
    """What came back for one mode."""

    requests: int = 0
    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # by error type
    hung: int = 0
    untyped: int = 0  # errors that are not an LLMProdError
    wrong_text: int = 0  # an answer other than the server's clean one
    attempts: int = 0

    @property
    def success(self) -> float:
        return self.ok / self.requests if self.requests else 0.0


@dataclass
class ChaosReport:
    modes: dict[str, Tally]
    served: int  # requests the servers received
    faults: Counter[str]  # the faults they served, by kind
    continuations: int  # requests that continued a broken stream (resume)
    breaker_opened: int  # times a replica's breaker opened
    seconds: float


def plan(rng: random.Random, kinds: dict[str, Fault], n: int, rate: float) -> tuple[list[Fault | None], list[str]]:
    """``n`` answers, each a fault with probability ``rate``; and each one's kind."""
    names = list(kinds)
    items: list[Fault | None] = []
    labels: list[str] = []
    for _ in range(n):
        if rng.random() < rate:
            name = rng.choice(names)
            items.append(kinds[name])
            labels.append(name)
        else:
            items.append(None)
            labels.append("")
    return items, labels


async def run(
    requests: int = 10_000,
    *,
    concurrency: int = 64,
    seed: int = 1,
    fault_rate: float = 0.3,
    retry: Retry | None = None,
    resume: bool = True,
    prompts: int = 50,
    progress: Callable[[int], None] | None = None,
) -> ChaosReport:
    """``requests`` calls (chat and stream in turn) with ``concurrency`` in flight, through
    one client with the default breaker (and ``resume``)."""
    from .. import Anthropic, AsyncClient, OpenAICompatible

    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    async with FaultServer() as vllm_server, FaultServer() as anthropic_server:
        deployments: list[Backend] = [
            OpenAICompatible.preset("vllm", base_url=vllm_server.url, model="m", name="vllm"),
            Anthropic("m", api_key="chaos", base_url=anthropic_server.base_url, name="anthropic"),
        ]
        asked = [f"question {i}: what happened?" for i in range(prompts)]
        async with AsyncClient(deployments[0], retry=None, breaker=None, telemetry=False) as clean:
            expected = {p: (await clean.chat(p)).text for p in asked}
        labels: list[list[str]] = []
        for server, first_text in ((vllm_server, 1), (anthropic_server, 3)):
            items, kinds = plan(rng, faults(first_text), 4 * requests, fault_rate)
            server.reset()
            server.script(items)
            labels.append(kinds)
        retry = retry or Retry(initial=0.01, maximum=0.05, max_retry_after=1.0)
        opened: list[object] = []

        def breakers(event: object) -> None:
            if isinstance(event, BreakerStateChanged) and event.new == "open":
                opened.append(event)

        client = AsyncClient(
            deployments, resume=resume, retry=retry, timeout=TIMEOUT, telemetry=False, hooks=[breakers]
        )
        tallies = {"chat": Tally(), "stream": Tally()}
        gate = asyncio.Semaphore(concurrency)
        done = 0
        started = loop.time()

        async def one(i: int) -> None:
            nonlocal done
            mode: Mode = "chat" if i % 2 == 0 else "stream"
            prompt = asked[i % len(asked)]
            tally = tallies[mode]
            tally.requests += 1
            async with gate:
                try:
                    async with asyncio.timeout(HUNG_AFTER):
                        text, attempts = await _call(client, mode, prompt)
                except TimeoutError as exc:
                    if isinstance(exc, LLMProdError):
                        tally.failed[type(exc).__name__] += 1
                    else:
                        tally.hung += 1
                except LLMProdError as exc:
                    tally.failed[type(exc).__name__] += 1
                except Exception as exc:
                    tally.untyped += 1
                    tally.failed[type(exc).__name__] += 1
                else:
                    tally.attempts += len(attempts)
                    if text != expected[prompt]:
                        tally.wrong_text += 1
                    else:
                        tally.ok += 1
            done += 1
            if progress is not None:
                progress(done)

        try:
            await asyncio.gather(*(one(i) for i in range(requests)))
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
        seconds = loop.time() - started
        served = Counter[str]()
        for server, kinds in zip((vllm_server, anthropic_server), labels, strict=True):
            served.update(k for k in kinds[: len(server.requests)] if k)
        total = len(vllm_server.requests) + len(anthropic_server.requests)
        continuations = sum(_continues(r.body) for r in (*vllm_server.requests, *anthropic_server.requests))
    return ChaosReport(tallies, total, served, continuations, len(opened), seconds)


async def _call(client: Any, mode: Mode, prompt: str) -> tuple[str, tuple[Any, ...]]:
    if mode == "chat":
        response = await client.chat(prompt)
        return response.text, response.attempt_log
    texts: list[str] = []
    final = None
    async for chunk in client.stream(prompt):
        texts.append(chunk.text)
        final = chunk.response
    assert final is not None
    if "".join(texts) != final.text:
        return "<the chunks and the final text differ>", final.attempt_log
    return final.text, final.attempt_log


def _continues(body: Any) -> bool:
    """Whether a request asked to continue an answer (vLLM's flag, Anthropic's prefill)."""
    if not isinstance(body, dict):
        return False
    messages = body.get("messages") or [{}]
    return bool(body.get("continue_final_message")) or messages[-1].get("role") == "assistant"
