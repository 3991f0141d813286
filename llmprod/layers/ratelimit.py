"""Rate limits per API key, tenant or client: requests and tokens per minute.

Each caller (``RateLimit.per``) has a request bucket and a token bucket, each as big
as its per-minute limit and refilled continuously. A call takes one request and its
estimated tokens (the prompt, counted locally, plus ``max_tokens``) before it goes
on; when the answer comes the token bucket is corrected to the real usage (a cache
hit uses none; a failed call keeps its reservation). When a bucket is short,
``on_limit="wait"`` sleeps until it can pay, but never past the call's deadline: a wait
that would pass it raises :class:`RateLimitedError` at once; ``"reject"`` raises at once.
Either way the error has ``source="local"`` and ``retry_after``.

An API key of the access policy may have limits of its own (``ApiKey.rate_limit``):
they apply to that key's calls on top of the client's. API keys are hashed before they
name a bucket (in memory or in Redis).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._core.call import Call, Layer, Opened
from .._core.clock import now
from .._core.config import RateLimit
from .._core.errors import RateLimitedError
from .._core.events import Emit, RateLimitHit
from .._core.models import ChatRequest, Usage
from ._buckets import Limit, MemoryBuckets
from ._buckets_redis import RedisBuckets
from ._estimate import prompt_tokens

Sleep = Callable[[float], Awaitable[None]]


def _hashed(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class Limiter:
    """One :class:`RateLimit`: its buckets, and whose calls fill them."""

    def __init__(self, config: RateLimit, *, key: str | None = None) -> None:
        self.config = config
        self.key = key  # a fixed bucket owner (an API key's own limit), else by config.per
        rpm, tpm = config.requests_per_minute, config.tokens_per_minute
        self.requests = Limit("requests_per_minute", rpm, rpm / 60.0) if rpm else None
        self.tokens = Limit("tokens_per_minute", tpm, tpm / 60.0) if tpm else None
        self.buckets: MemoryBuckets | RedisBuckets
        self.buckets = RedisBuckets(config.redis_url) if config.redis_url else MemoryBuckets(clock=now)

    def caller(self, request: ChatRequest) -> str:
        """The bucket owner of the request's caller; never the API key itself."""
        if self.key is not None:
            return self.key
        meta = request.metadata
        if self.config.per == "api_key":
            return _hashed("key", meta.api_key) if meta.api_key else "key:anonymous"
        if self.config.per == "tenant":
            return _hashed("tenant", meta.tenant) if meta.tenant else "tenant:default"
        return "client"


class RateLimitLayer(Layer):
    """Admits a call when its caller's buckets can pay, waiting or refusing otherwise."""

    def __init__(
        self,
        inner: Layer,
        config: RateLimit | None,
        emit: Emit,
        *,
        per_key: Mapping[str, RateLimit] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(inner)
        self.config = config
        self.emit = emit
        self._sleep = sleep
        self._limiter = Limiter(config) if config is not None else None
        self._per_key = {digest: Limiter(limit, key=f"key:{digest[:32]}") for digest, limit in (per_key or {}).items()}

    @property
    def buckets(self) -> MemoryBuckets | RedisBuckets | None:
        return self._limiter.buckets if self._limiter is not None else None

    def _limiters(self, request: ChatRequest) -> list[Limiter]:
        limiters = [self._limiter] if self._limiter is not None else []
        api_key = request.metadata.api_key
        if self._per_key and api_key:
            own = self._per_key.get(hashlib.sha256(api_key.encode()).hexdigest())
            if own is not None:
                limiters.append(own)
        return limiters

    async def _admit(self, call: Call, limiter: Limiter) -> tuple[str, int]:
        request = call.request
        reserved = 0
        if limiter.tokens is not None:
            reserved = prompt_tokens(request).tokens + (request.max_tokens or 0)
            if reserved > limiter.tokens.capacity:
                raise RateLimitedError(
                    f"the call needs about {reserved} tokens, more than tokens_per_minute allows "
                    f"({limiter.tokens.capacity:g})",
                    source="local",
                    status=None,
                )
        caller = limiter.caller(request)
        limits = [lim for lim in (limiter.requests, limiter.tokens) if lim is not None]
        if not limits:
            return caller, reserved
        costs = [1.0 if lim is limiter.requests else float(reserved) for lim in limits]
        keys = [f"{caller}|{lim.name}" for lim in limits]
        left = call.time_left()
        reject = limiter.config.on_limit == "reject"
        max_wait = 0.0 if reject else (max(left, 0.0) if left is not None else float("inf"))
        taken = await limiter.buckets.take(keys, limits, costs, max_wait)
        if not taken.admitted:
            self.emit(RateLimitHit(call.id, taken.limit or "", 0.0, True))
            why = "on_limit='reject'" if reject else "the call's deadline comes first"
            raise RateLimitedError(
                f"local rate limit {taken.limit} reached; retry in {taken.wait:.2f}s ({why})",
                source="local",
                retry_after=taken.wait,
                status=None,
            )
        if taken.wait > 0:
            self.emit(RateLimitHit(call.id, taken.limit or "", taken.wait, False))
            try:
                await self._sleep(taken.wait)
            except BaseException:  # cancelled while queued: hand back what was charged
                for key, limit, cost in zip(keys, limits, costs, strict=True):
                    await limiter.buckets.give(key, limit, cost)
                raise
        return caller, reserved

    async def _settle(self, limiter: Limiter, caller: str, reserved: int, usage: Usage | None, cached: bool) -> None:
        if limiter.tokens is None:
            return
        used = 0 if cached else (usage.total_tokens if usage is not None else reserved)
        if used != reserved:
            await limiter.buckets.give(f"{caller}|{limiter.tokens.name}", limiter.tokens, float(reserved - used))

    async def open(self, call: Call) -> Opened:
        admitted: list[tuple[Limiter, str, int]] = []
        try:
            for limiter in self._limiters(call.request):
                caller, reserved = await self._admit(call, limiter)
                admitted.append((limiter, caller, reserved))
            opened = await self.inner.open(call)
        except BaseException:
            for limiter, caller, reserved in admitted:
                await self._settle(limiter, caller, reserved, None, False)
            raise
        if admitted:
            opened.on_close(self, admitted)
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        response = opened.response
        usage = (opened.usage or response.usage) if response is not None else None
        for limiter, caller, reserved in state:
            await self._settle(limiter, caller, reserved, usage, opened.cached)

    async def aclose(self) -> None:
        for limiter in [self._limiter, *self._per_key.values()]:
            if limiter is not None:
                await limiter.buckets.aclose()
        await self.inner.aclose()
