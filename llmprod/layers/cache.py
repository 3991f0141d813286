"""The cache layer: exact-match answers per tenant, single flight, stale-if-error.

It sits below PII redaction, so it only ever sees (and hashes) the redacted request.
A hit returns the stored answer marked ``cached``; a stream hit is replayed as a
stream. Identical requests in flight together make one upstream call (single flight):
the call runs in a shared task that no caller's cancellation can cancel. When the
layers below fail, an expired entry still inside ``stale_ttl`` answers, marked ``stale``.
Stores: :class:`MemoryStore` here (the only cachetools import) or Redis
(``_cache_redis.py``, when ``Cache.redis_url`` is set). A store that fails is a miss.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Protocol

from cachetools import TLRUCache

from .._core.backend import Backend, Emit
from .._core.config import Cache
from .._core.events import CacheLookup, CacheOutcome
from .._core.models import ChatChunk, ChatRequest, ChatResponse
from ._cache_entry import CacheStoreError, Entry, cache_key, is_deterministic, is_storable, new_entry, serves_stale
from ._streams import aclose_stream

log = logging.getLogger("llmprod.cache")
Clock = Callable[[], float]


class CacheStore(Protocol):
    """Where entries live. ``get``/``set`` raise :class:`CacheStoreError` when unreachable."""

    async def get(self, key: str) -> Entry | None: ...
    async def set(self, key: str, entry: Entry) -> None: ...
    def usage(self) -> tuple[int, int] | None: ...
    async def aclose(self) -> None: ...


class MemoryStore:
    """An LRU bounded by entries and by bytes; each entry expires at its stale deadline."""

    def __init__(self, *, max_entries: int, max_bytes: int, clock: Clock = time.time) -> None:
        self._max_entries = max_entries
        self._entries = TLRUCache(maxsize=max_bytes, ttu=_stale_until, timer=clock, getsizeof=_size)
        self._lock = threading.Lock()  # cachetools is not thread-safe; never held across an await

    async def get(self, key: str) -> Entry | None:
        with self._lock:
            entry: Entry | None = self._entries.get(key)
            return entry

    async def set(self, key: str, entry: Entry) -> None:
        entry = replace(entry, size=entry.size + len(key))
        with self._lock:
            try:
                self._entries[key] = entry
            except ValueError:  # larger than the whole byte bound: not cached
                return
            while len(self._entries) > self._max_entries:
                self._entries.popitem()

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) held now."""
        with self._lock:
            return len(self._entries), int(self._entries.currsize)

    async def aclose(self) -> None:
        with self._lock:
            self._entries.clear()


def _stale_until(_key: str, entry: Entry, _now: float) -> float:
    return entry.stale_until


def _size(entry: Entry) -> int:
    return entry.size


def build_store(config: Cache, clock: Clock = time.time) -> CacheStore:
    if config.redis_url:
        from ._cache_redis import RedisStore

        return RedisStore(config.redis_url, timeout=config.redis_timeout, clock=clock)
    return MemoryStore(max_entries=config.max_entries, max_bytes=config.max_bytes, clock=clock)


class CacheLayer:
    """Exact-match cache around ``inner``; see the module docstring and docs/layers/cache.md."""

    def __init__(
        self, inner: Backend, config: Cache, emit: Emit, *, store: CacheStore | None = None, clock: Clock = time.time
    ) -> None:
        self.inner = inner
        self.config = config
        self.emit = emit
        self.name = inner.name
        self.clock = clock
        self.store = store if store is not None else build_store(config, clock)
        self._inflight: dict[str, asyncio.Task[ChatResponse]] = {}

    def usage(self) -> tuple[int, int] | None:
        """(entries, bytes) for the in-memory store; None for Redis."""
        return self.store.usage()

    def _key(self, request: ChatRequest) -> str | None:
        control = request.metadata.cache
        if not (control.lookup or control.store):
            return None
        if not (self.config.cache_nondeterministic or is_deterministic(request)):
            return None
        return cache_key(request, self.config.namespace)

    def _event(self, request: ChatRequest, outcome: CacheOutcome, response: ChatResponse | None = None) -> None:
        call_id = request.trace.call_id if request.trace else None
        saved = response if outcome != "miss" and outcome != "error" else None
        tokens = saved.usage.total_tokens if saved else 0
        self.emit(CacheLookup(call_id, outcome, saved_cost=saved.cost if saved else None, saved_tokens=tokens))

    def _store_failed(self, request: ChatRequest, exc: Exception, *, lookup: bool) -> None:
        quiet = isinstance(exc, CacheStoreError) and exc.quiet  # already reported: the store is down
        if not quiet:
            reason = str(exc) if isinstance(exc, CacheStoreError) else type(exc).__name__
            log.warning("llmprod cache store failed (%s); answering without the cache", reason)
        if lookup or not quiet:
            self._event(request, "error")

    async def _lookup(self, request: ChatRequest, key: str) -> tuple[Entry | None, bool]:
        """The entry found (fresh or within its stale grace), and whether a lookup
        happened. A failing store is a miss, reported as an ``error``, never a failed call."""
        if not request.metadata.cache.lookup:
            return None, False
        try:
            return await self.store.get(key), True
        except Exception as exc:
            self._store_failed(request, exc, lookup=True)
            return None, False

    async def _store(self, request: ChatRequest, key: str, response: ChatResponse) -> None:
        control = request.metadata.cache
        ttl = self.config.ttl if control.ttl is None else control.ttl
        if not control.store or ttl <= 0 or not is_storable(response):
            return
        entry = new_entry(response, now=self.clock(), ttl=ttl, stale_ttl=self.config.stale_ttl)
        try:
            await self.store.set(key, entry)
        except Exception as exc:
            self._store_failed(request, exc, lookup=False)

    def _served(self, request: ChatRequest, response: ChatResponse, outcome: CacheOutcome) -> ChatResponse:
        self._event(request, outcome, response)  # the saving is the original answer's cost
        cost = 0.0 if response.cost is not None else None
        return replace(response, cached=True, stale=outcome == "stale", cost=cost)

    def _stale(self, entry: Entry | None, exc: Exception) -> Entry | None:
        if entry is not None and serves_stale(exc) and self.clock() < entry.stale_until:
            return entry
        return None

    def _coalesces(self, request: ChatRequest) -> bool:
        control = request.metadata.cache
        return self.config.coalesce and control.lookup and control.store

    async def _upstream(self, request: ChatRequest, key: str) -> ChatResponse:
        response = await self.inner.complete(request)
        await self._store(request, key, response)
        return response

    def _lead(self, request: ChatRequest, key: str) -> Awaitable[ChatResponse]:
        if not self._coalesces(request):
            return self._upstream(request, key)
        task = asyncio.ensure_future(self._upstream(request, key))
        self._inflight[key] = task
        task.add_done_callback(functools.partial(self._landed, key))
        # Shielded: a caller that cancels leaves the shared call running for the others.
        return asyncio.shield(task)

    def _landed(self, key: str, task: asyncio.Task[ChatResponse]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: a task whose callers all left must not warn

    async def _answer(
        self, request: ChatRequest, entry: Entry | None, pending: Awaitable[ChatResponse], *, coalesced: bool
    ) -> ChatResponse:
        try:
            response = await pending
        except Exception as exc:
            stale = self._stale(entry, exc)
            if stale is None:
                raise
            return self._served(request, stale.response, "stale")
        return self._served(request, response, "coalesced") if coalesced else response

    def _pending(self, request: ChatRequest, key: str, *, looked_up: bool) -> tuple[Awaitable[ChatResponse], bool]:
        """The shared call to join (coalesced), or a new upstream call (a miss)."""
        shared = self._inflight.get(key) if self._coalesces(request) else None
        if shared is not None:
            return asyncio.shield(shared), True
        if looked_up:
            self._event(request, "miss")
        return self._lead(request, key), False

    async def complete(self, request: ChatRequest) -> ChatResponse:
        key = self._key(request)
        if key is None:
            return await self.inner.complete(request)
        entry, looked_up = await self._lookup(request, key)
        if entry is not None and self.clock() < entry.fresh_until:
            return self._served(request, entry.response, "hit")
        pending, coalesced = self._pending(request, key, looked_up=looked_up)
        return await self._answer(request, entry, pending, coalesced=coalesced)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        key = self._key(request)
        if key is None:
            passthrough = self.inner.stream(request)
            try:
                async for chunk in passthrough:
                    yield chunk
            finally:
                await aclose_stream(passthrough)
            return
        entry, looked_up = await self._lookup(request, key)
        if entry is not None and self.clock() < entry.fresh_until:
            answer = self._served(request, entry.response, "hit")
        elif self._coalesces(request) and key in self._inflight:
            answer = await self._answer(request, entry, asyncio.shield(self._inflight[key]), coalesced=True)
        else:
            if looked_up:
                self._event(request, "miss")
            started = False
            live = self.inner.stream(request)
            try:
                async for chunk in live:
                    if chunk.response is not None:  # complete: fill the cache before the last chunk goes up
                        await self._store(request, key, chunk.response)
                    started = True
                    yield chunk
                return
            except Exception as exc:
                stale = self._stale(entry, exc)
                if started or stale is None:
                    raise
                answer = self._served(request, stale.response, "stale")
            finally:
                await aclose_stream(live)
        for chunk in _replay(answer):
            yield chunk

    async def aclose(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        try:
            await self.inner.aclose()
        finally:
            await self.store.aclose()


def _replay(response: ChatResponse) -> Iterator[ChatChunk]:
    """A stored answer as a stream: its text in one chunk, then the final chunk."""
    if response.text or response.tool_calls:
        deltas = tuple({"index": i, **call} for i, call in enumerate(response.tool_calls or ())) or None
        yield ChatChunk(text=response.text, tool_calls=deltas)
    yield ChatChunk(finish_reason=response.finish_reason, usage=response.usage, response=response)
