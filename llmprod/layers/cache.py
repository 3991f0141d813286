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
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from typing import Any, Protocol

from cachetools import TLRUCache

from .._core.call import Call, Layer, Opened
from .._core.config import Cache
from .._core.errors import backends_failed
from .._core.events import CacheLookup, CacheOutcome, Emit
from .._core.models import ChatRequest, ChatResponse
from ._cache_entry import CacheStoreError, Entry, is_deterministic, is_storable, local_key, new_entry

log = logging.getLogger("llmprod.cache")
Clock = Callable[[], float]


class CacheStore(Protocol):
    """Where entries live. ``get``/``set`` raise :class:`CacheStoreError` when unreachable."""

    def key(self, request: ChatRequest, namespace: str) -> Hashable: ...
    async def get(self, key: Any) -> Entry | None: ...
    async def set(self, key: Any, entry: Entry) -> None: ...
    def usage(self) -> tuple[int, int] | None: ...
    async def aclose(self) -> None: ...


class MemoryStore:
    """An LRU bounded by entries and by bytes; each entry expires at its stale deadline."""

    def __init__(self, *, max_entries: int, max_bytes: int, clock: Clock = time.time) -> None:
        self._max_entries = max_entries
        self._entries = TLRUCache(maxsize=max_bytes, ttu=_stale_until, timer=clock, getsizeof=_size)
        self._lock = threading.Lock()  # cachetools is not thread-safe; never held across an await

    def key(self, request: ChatRequest, namespace: str) -> Hashable:
        return local_key(request, namespace)  # this process only: no need to hash it for sharing

    async def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            entry: Entry | None = self._entries.get(key)
            return entry

    async def set(self, key: Hashable, entry: Entry) -> None:
        entry = replace(entry, size=entry.size + 64)  # about what the key holds
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


def _stale_until(_key: Hashable, entry: Entry, _now: float) -> float:
    return entry.stale_until


def _size(entry: Entry) -> int:
    return entry.size


def build_store(config: Cache, clock: Clock = time.time) -> CacheStore:
    if config.redis_url:
        from ._cache_redis import RedisStore

        return RedisStore(config.redis_url, timeout=config.redis_timeout, clock=clock)
    return MemoryStore(max_entries=config.max_entries, max_bytes=config.max_bytes, clock=clock)


class CacheLayer(Layer):
    """Exact-match cache around ``inner``; see the module docstring and docs/layers/cache.md."""

    def __init__(
        self, inner: Layer, config: Cache, emit: Emit, *, store: CacheStore | None = None, clock: Clock = time.time
    ) -> None:
        super().__init__(inner)
        self.config = config
        self.emit = emit
        self.clock = clock
        self.store = store if store is not None else build_store(config, clock)
        self._inflight: dict[Hashable, asyncio.Task[Opened]] = {}

    def usage(self) -> tuple[int, int] | None:
        """(entries, bytes) for the in-memory store; None for Redis."""
        return self.store.usage()

    def _key(self, request: ChatRequest) -> Hashable | None:
        control = request.metadata.cache
        if not (control.lookup or control.store):
            return None
        if not (self.config.cache_nondeterministic or is_deterministic(request)):
            return None
        return self.store.key(request, self.config.namespace)

    def _event(self, call: Call, outcome: CacheOutcome, response: ChatResponse | None = None) -> None:
        saved = response if outcome != "miss" and outcome != "error" else None
        tokens = saved.usage.total_tokens if saved else 0
        self.emit(CacheLookup(call.id, outcome, saved_cost=saved.cost if saved else None, saved_tokens=tokens))

    def _store_failed(self, call: Call, exc: Exception, *, lookup: bool) -> None:
        quiet = isinstance(exc, CacheStoreError) and exc.quiet  # already reported: the store is down
        if not quiet:
            reason = str(exc) if isinstance(exc, CacheStoreError) else type(exc).__name__
            log.warning("llmprod cache store failed (%s); answering without the cache", reason)
        if lookup or not quiet:
            self._event(call, "error")

    async def _lookup(self, call: Call, key: Hashable) -> tuple[Entry | None, bool]:
        """The entry found (fresh or within its stale grace), and whether a lookup
        happened. A failing store is a miss, reported as an ``error``, never a failed call."""
        if not call.request.metadata.cache.lookup:
            return None, False
        try:
            return await self.store.get(key), True
        except Exception as exc:
            self._store_failed(call, exc, lookup=True)
            return None, False

    async def _store(self, call: Call, key: Hashable, response: ChatResponse) -> None:
        control = call.request.metadata.cache
        ttl = self.config.ttl if control.ttl is None else control.ttl
        if not control.store or ttl <= 0 or not is_storable(response):
            return
        entry = new_entry(response, now=self.clock(), ttl=ttl, stale_ttl=self.config.stale_ttl)
        try:
            await self.store.set(key, entry)
        except Exception as exc:
            self._store_failed(call, exc, lookup=False)

    def _served(self, call: Call, response: ChatResponse, outcome: CacheOutcome) -> Opened:
        """A stored answer (or one shared with a call in flight) as this call's answer.

        It costs this call nothing (``cost`` 0, or None when the original was unpriced);
        what the original cost is reported as the saving, on the :class:`CacheLookup`."""
        self._event(call, outcome, response)
        opened = Opened.replay(response) if call.stream else Opened(response)
        opened.cached = True
        opened.stale = outcome == "stale"
        opened.cost = 0.0 if response.cost is not None else None
        return opened

    def _stale(self, entry: Entry | None, exc: Exception) -> Entry | None:
        if entry is not None and backends_failed(exc) and self.clock() < entry.stale_until:
            return entry
        return None

    def _coalesces(self, call: Call) -> bool:
        control = call.request.metadata.cache
        return self.config.coalesce and control.lookup and control.store

    async def _upstream(self, call: Call, key: Hashable) -> Opened:
        """One upstream call, finished here and stored (it may be shared by several callers)."""
        opened = await self.inner.open(call)
        await opened.close(None)
        await self._store(call, key, opened.annotated())
        return opened

    def _lead(self, call: Call, key: Hashable) -> Awaitable[Opened]:
        task = asyncio.ensure_future(self._upstream(call, key))
        self._inflight[key] = task
        task.add_done_callback(functools.partial(self._landed, key))
        # Shielded: a caller that cancels leaves the shared call running for the others.
        return asyncio.shield(task)

    def _landed(self, key: Hashable, task: asyncio.Task[Opened]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: a task whose callers all left must not warn

    async def open(self, call: Call) -> Opened:
        key = self._key(call.request)
        if key is None:
            return await self.inner.open(call)
        entry, looked_up = await self._lookup(call, key)
        if entry is not None and self.clock() < entry.fresh_until:
            return self._served(call, entry.response, "hit")
        shared = self._inflight.get(key) if self._coalesces(call) else None
        try:
            if shared is not None:  # the same request is in flight: share its answer
                answer = await asyncio.shield(shared)
                return self._served(call, answer.annotated(), "coalesced")
            if looked_up:
                self._event(call, "miss")
            if self._coalesces(call) and not call.stream:
                return (await self._lead(call, key)).settled()
            opened = await self.inner.open(call)
        except Exception as exc:
            stale = self._stale(entry, exc)
            if stale is None:
                raise
            return self._served(call, stale.response, "stale")
        opened.on_close(self, (call, key))
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        if error is None and opened.response is not None:
            call, key = state
            await self._store(call, key, opened.annotated())

    async def aclose(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        try:
            await self.inner.aclose()
        finally:
            await self.store.aclose()
