"""A simulated provider, in-process: latency, throughput, failures and prices, under a seed.

It is the default backend of ``llmprod demo``, the docs and the examples: it needs no
key and no network. Its answers are deterministic for a given prompt; its latency and
failures are drawn from a generator seeded with ``seed``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .._core.config import _integer, _positive
from .._core.errors import ConfigError, ProviderConnectionError, ProviderTimeoutError, RateLimitedError, ServerError
from .._core.models import ChatChunk, ChatRequest, ChatResponse, StreamAssembler, Usage, new_id
from . import _checks

_WORDS = (
    "the request was handled by a simulated model that answers quickly and predictably so that "
    "retries caching routing and cost tracking can be shown without any keys or network access "
    "production systems need honest numbers measured under realistic load with failures injected"
).split()

FAULTS = ("server_error", "rate_limit", "timeout", "connection")


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """A log-normal latency distribution given by its median and p99, in seconds."""

    median: float = 0.05
    p99: float = 0.2

    def __post_init__(self) -> None:
        _positive("latency.median", self.median, allow_zero=True, optional=False)
        _positive("latency.p99", self.p99, allow_zero=True, optional=False)

    def sample(self, rng: random.Random) -> float:
        sigma = max(math.log(self.p99 / self.median) / 2.326, 1e-9) if self.p99 > self.median else 0.0
        return self.median * math.exp(rng.gauss(0.0, sigma)) if sigma else self.median


class Simulated:
    """A deterministic fake LLM.

    ``latency`` is time to first token; generation then runs at ``tokens_per_second``.
    ``failure_rate`` of calls fail with one of ``faults`` (typed errors, as a real
    provider's would map). Prices are USD per million tokens, for the cost layer.
    """

    provider = "simulated"  # OpenTelemetry gen_ai.provider.name

    def __init__(
        self,
        model: str = "sim-small",
        *,
        name: str | None = None,
        latency: Latency | None = None,
        tokens_per_second: float = 400.0,
        failure_rate: float = 0.0,
        faults: Sequence[str] = FAULTS,
        seed: int = 0,
        answer_tokens: int = 40,
        input_price: float = 0.15,
        output_price: float = 0.60,
        context_window: int = 128_000,
    ) -> None:
        _checks.text(model, path="simulated.model")
        _checks.optional_text(name, path="simulated.name")
        if latency is not None and not isinstance(latency, Latency):
            raise ConfigError(f"must be a llmprod.Latency, got {type(latency).__name__}", path="simulated.latency")
        _positive("simulated.tokens_per_second", tokens_per_second, optional=False)
        _positive("simulated.failure_rate", failure_rate, allow_zero=True, optional=False)
        if failure_rate > 1:
            raise ConfigError(f"must be within [0, 1], got {failure_rate!r}", path="simulated.failure_rate")
        if isinstance(faults, str) or not isinstance(faults, Sequence) or not all(f in FAULTS for f in faults):
            raise ConfigError(f"must be a list of fault kinds from {FAULTS}", path="simulated.faults")
        _integer("simulated.seed", seed, low=-(2**63))
        _integer("simulated.answer_tokens", answer_tokens)
        _positive("simulated.input_price", input_price, allow_zero=True, optional=False)
        _positive("simulated.output_price", output_price, allow_zero=True, optional=False)
        _integer("simulated.context_window", context_window)
        self.model = model
        self.name = name or model
        self.latency = latency or Latency()
        self.tokens_per_second = tokens_per_second
        self.failure_rate = failure_rate
        self.faults = tuple(faults)
        self.answer_tokens = answer_tokens
        self.input_price = input_price
        self.output_price = output_price
        self.context_window = context_window
        self._rng = random.Random(seed)
        self.calls = 0

    def __repr__(self) -> str:
        return f"Simulated(model={self.model!r}, name={self.name!r})"

    def _answer(self, request: ChatRequest) -> list[str]:
        digest = hashlib.blake2b(request.prompt_text().encode(), digest_size=8).digest()
        start = int.from_bytes(digest, "big")
        limit = request.max_tokens if request.max_tokens is not None else self.answer_tokens
        count = max(1, min(self.answer_tokens, limit))
        return [_WORDS[(start + i) % len(_WORDS)] + " " for i in range(count)]

    def _draw(self) -> tuple[float, str | None]:
        self.calls += 1
        delay = self.latency.sample(self._rng)
        fault = self._rng.choice(self.faults) if self._rng.random() < self.failure_rate else None
        return delay, fault

    def _fail(self, fault: str) -> Exception:
        if fault == "rate_limit":
            return RateLimitedError("simulated 429", source="provider", retry_after=0.01, deployment=self.name)
        if fault == "timeout":
            return ProviderTimeoutError("simulated timeout", deployment=self.name)
        if fault == "connection":
            return ProviderConnectionError("simulated connection reset", deployment=self.name)
        return ServerError("simulated 503", status=503, deployment=self.name)

    def _usage(self, request: ChatRequest, completion: int) -> Usage:
        prompt = max(1, len(request.prompt_text()) // 4) + 3 * len(request.messages)
        return Usage(prompt_tokens=prompt, completion_tokens=completion)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        delay, fault = self._draw()
        tokens = self._answer(request)
        await asyncio.sleep(delay + len(tokens) / self.tokens_per_second)
        if fault:
            raise self._fail(fault)
        finish = "length" if request.max_tokens is not None and len(tokens) >= request.max_tokens else "stop"
        return ChatResponse(
            id=new_id("sim"),
            text="".join(tokens).rstrip(),
            finish_reason=finish,
            usage=self._usage(request, len(tokens)),
            model=self.model,
            deployment=self.name,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        delay, fault = self._draw()
        tokens = self._answer(request)
        await asyncio.sleep(delay)
        if fault:
            raise self._fail(fault)
        assembler = StreamAssembler(model=self.model, deployment=self.name, id=new_id("sim"))
        step = 1 / self.tokens_per_second
        for i, token in enumerate(tokens):
            text = token.rstrip() if i == len(tokens) - 1 else token
            await asyncio.sleep(step)
            assembler.add_text(text)
            yield ChatChunk(text=text)
        limited = request.max_tokens is not None and len(tokens) >= request.max_tokens
        assembler.finish_reason = "length" if limited else "stop"
        assembler.usage = self._usage(request, len(tokens))
        yield assembler.final_chunk()

    async def aclose(self) -> None:
        return None
