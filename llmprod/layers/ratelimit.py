"""Rate limits per API key, tenant or client: requests and tokens per minute.

Each caller (``RateLimit.per``) has a request bucket and a token bucket, each as big
as its per-minute limit and refilled continuously. A call takes one request and its
estimated tokens (the prompt, counted locally, plus ``max_tokens``) before it goes
on; when the answer comes the token bucket is corrected to the real usage (a cache
hit uses none; a failed call keeps its reservation). When a bucket is short,
``on_limit="wait"`` sleeps until it can pay, but never past the call's deadline: a wait that would pass it raises
:class:`RateLimitedError` at once; ``"reject"`` raises at once. Either way the error
has ``source="local"`` and ``retry_after``.

API keys are hashed before they name a bucket (in memory or in Redis).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

from .._core.backend import Backend, Emit
from .._core.config import RateLimit
from .._core.deadline import time_left
from .._core.errors import RateLimitedError
from .._core.events import RateLimitHit
from .._core.models import ChatChunk, ChatRequest, ChatResponse, Usage
from ._buckets import Limit, MemoryBuckets
from ._buckets_redis import RedisBuckets
from ._estimate import prompt_tokens
from ._streams import aclose_stream

Sleep = Callable[[float], Awaitable[None]]


def _hashed(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class RateLimitLayer:
    """Admits a call when its caller's buckets can pay, waiting or refusing otherwise."""

    def __init__(self, inner: Backend, config: RateLimit, emit: Emit, *, sleep: Sleep = asyncio.sleep) -> None:
        self.inner = inner
        self.config = config
        self.emit = emit
        self.name = inner.name
        self._sleep = sleep
        rpm, tpm = config.requests_per_minute, config.tokens_per_minute
        self._requests = Limit("requests_per_minute", rpm, rpm / 60.0) if rpm else None
        self._tokens = Limit("tokens_per_minute", tpm, tpm / 60.0) if tpm else None
        self.buckets: MemoryBuckets | RedisBuckets
        if config.redis_url:
            self.buckets = RedisBuckets(config.redis_url)
        else:
            self.buckets = MemoryBuckets()

    def caller(self, request: ChatRequest) -> str:
        """The bucket key of the request's caller; never the API key itself."""
        meta = request.metadata
        if self.config.per == "api_key":
            return _hashed("key", meta.api_key) if meta.api_key else "key:anonymous"
        if self.config.per == "tenant":
            return _hashed("tenant", meta.tenant) if meta.tenant else "tenant:default"
        return "client"

    def _reserve(self, request: ChatRequest) -> int:
        if self._tokens is None:
            return 0
        needed = prompt_tokens(request).tokens + (request.max_tokens or 0)
        if needed > self._tokens.capacity:
            raise RateLimitedError(
                f"the call needs about {needed} tokens, more than tokens_per_minute allows ({self._tokens.capacity:g})",
                source="local",
                status=None,
            )
        return needed

    async def _admit(self, request: ChatRequest, caller: str) -> int:
        reserved = self._reserve(request)
        limits = [lim for lim in (self._requests, self._tokens) if lim is not None]
        costs = [1.0 if lim is self._requests else float(reserved) for lim in limits]
        if not limits:
            return 0
        left = time_left(request)
        max_wait = 0.0 if self.config.on_limit == "reject" else (max(left, 0.0) if left is not None else float("inf"))
        taken = await self.buckets.take([caller] * len(limits), limits, costs, max_wait)
        call_id = request.trace.call_id if request.trace else None
        if not taken.admitted:
            self.emit(RateLimitHit(call_id, taken.limit or "", 0.0, True))
            why = "the call's deadline comes first" if self.config.on_limit == "wait" else "on_limit='reject'"
            raise RateLimitedError(
                f"local rate limit {taken.limit} reached; retry in {taken.wait:.2f}s ({why})",
                source="local",
                retry_after=taken.wait,
                status=None,
            )
        if taken.wait > 0:
            self.emit(RateLimitHit(call_id, taken.limit or "", taken.wait, False))
            try:
                await self._sleep(taken.wait)
            except BaseException:  # cancelled while queued: hand back what was charged
                for limit, cost in zip(limits, costs, strict=True):
                    await self.buckets.give(caller, limit, cost)
                raise
        return reserved

    async def _settle(self, caller: str, reserved: int, usage: Usage | None, cached: bool) -> None:
        if self._tokens is None:
            return
        used = 0 if cached else (usage.total_tokens if usage is not None else reserved)
        if used != reserved:
            await self.buckets.give(caller, self._tokens, float(reserved - used))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        caller = self.caller(request)
        reserved = await self._admit(request, caller)
        try:
            response = await self.inner.complete(request)
        except BaseException:
            await self._settle(caller, reserved, None, False)
            raise
        await self._settle(caller, reserved, response.usage, response.cached)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        caller = self.caller(request)
        reserved = await self._admit(request, caller)
        final: ChatResponse | None = None
        stream = self.inner.stream(request)
        try:
            async for chunk in stream:
                if chunk.response is not None:
                    final = chunk.response
                yield chunk
        finally:
            await aclose_stream(stream)
            await self._settle(caller, reserved, final.usage if final else None, final.cached if final else False)

    async def aclose(self) -> None:
        await self.buckets.aclose()
        await self.inner.aclose()
