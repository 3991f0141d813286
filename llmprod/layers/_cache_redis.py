"""The cache's Redis store: one Redis shared by many processes and hosts.

The only module that imports redis (the ``redis`` extra), when a ``Cache`` with a
``redis_url`` is built. Entries are versioned JSON (``_cache_entry.encode``) with a
Redis TTL that covers the stale grace. Every command has short socket timeouts and no
client-side retries; after a failure the store stays away from Redis for ``backoff``
seconds, so a dead or slow Redis costs each call at most one timeout, then nothing.
Failures raise :class:`CacheStoreError`; the layer turns them into a miss.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .._core.models import ChatRequest
from .._core.redis import async_client
from .._core.redis import errors as redis_errors
from ._cache_entry import CacheStoreError, Entry, StoreDownError, cache_key, decode, encode

if TYPE_CHECKING:
    from redis.asyncio import Redis


class RedisStore:
    """Cache entries in Redis under their keys (the keys hold only hashes)."""

    def __init__(self, url: str, *, timeout: float = 0.25, backoff: float = 1.0, clock: Any = time.time) -> None:
        self._redis: Redis = async_client(url, timeout=timeout, retries=False)
        self._errors = redis_errors()
        self._backoff = backoff
        self._clock = clock
        self._down_until = 0.0

    def __repr__(self) -> str:
        return "RedisStore(<url hidden>)"  # the URL may hold a password

    def _check_up(self) -> None:
        if time.monotonic() < self._down_until:
            raise StoreDownError("redis marked down after a recent failure")

    def _failed(self, exc: BaseException) -> CacheStoreError:
        self._down_until = time.monotonic() + self._backoff
        return CacheStoreError(f"redis failed: {type(exc).__name__}")

    def key(self, request: ChatRequest, namespace: str) -> str:
        return cache_key(request, namespace)  # shared by processes: a stable digest, no prompt text

    async def get(self, key: str) -> Entry | None:
        self._check_up()
        try:
            data = await self._redis.get(key)
        except self._errors as exc:
            raise self._failed(exc) from exc
        if data is None:
            return None
        try:
            return decode(data.encode() if isinstance(data, str) else data)
        except ValueError as exc:
            raise CacheStoreError(str(exc)) from None

    async def set(self, key: str, entry: Entry) -> None:
        self._check_up()
        expires_ms = math.ceil((entry.stale_until - self._clock()) * 1000)
        if expires_ms <= 0:
            return
        try:
            await self._redis.set(key, encode(entry), px=expires_ms)
        except self._errors as exc:
            raise self._failed(exc) from exc

    def usage(self) -> tuple[int, int] | None:
        return None  # Redis reports its own memory (INFO memory); not counted here

    async def aclose(self) -> None:
        await self._redis.aclose()
