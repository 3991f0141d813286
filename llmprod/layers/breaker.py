"""The circuit breaker, one per replica, on pybreaker's state machine.

pybreaker decides closed / open / half-open; this layer adds what pybreaker 1.4.1
lacks under asyncio:

- it is entered with ``with breaker.calling():`` around the await (its ``call()``
  holds a lock for the whole call and has no asyncio support);
- half-open admits exactly one probe: while it runs, other calls fail fast;
- a cancellation (a hedge's loser, a caller that gave up) or an exhausted call
  deadline is *neutral*: neither a failure nor a success (pybreaker catches
  ``BaseException`` and would count it). Its bookkeeping writes are dropped;
- caller errors (400, 401, 403, 404, 422, ...) do not count as failures
  (pybreaker's ``exclude``: it treats them as successes, the replica answered);
- ``CircuitBreakerError`` becomes :class:`CircuitOpenError`; the call that trips
  the breaker keeps its own error.

With ``Breaker.redis_url`` the state is shared through pybreaker's Redis storage.
Its client blocks, so entering and leaving the breaker then runs in a thread; state
changes still reach the hooks on the event loop's thread. Building the breaker writes
its initial keys (pybreaker does it in the constructor: a few blocking round trips,
once per replica, when the client is built); a Redis that is down then is logged, not
raised, and the breaker reads as closed until Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker

from .._core.backend import Backend, Emit
from .._core.config import Breaker
from .._core.errors import (
    AccessDeniedError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ContentPolicyError,
    DeadlineExceededError,
    InvalidRequestError,
    NotFoundError,
)
from .._core.events import AttemptFinished, BreakerStateChanged
from .._core.models import AttemptRecord, ChatChunk, ChatRequest, ChatResponse
from .._core.redis import errors as redis_errors
from .._core.redis import sync_client
from ._streams import aclose_stream

T = TypeVar("T")
log = logging.getLogger("llmprod")

# The replica answered, so it is up: these never count as failures.
CALLER_ERRORS: tuple[type[BaseException], ...] = (
    BadRequestError,
    AuthenticationError,
    NotFoundError,
    ContentPolicyError,
    InvalidRequestError,
    AccessDeniedError,
)
# Say nothing about the replica's health.
NEUTRAL: tuple[type[BaseException], ...] = (asyncio.CancelledError, GeneratorExit, DeadlineExceededError)


def is_neutral(exc: BaseException) -> bool:
    return isinstance(exc, NEUTRAL)


def _counts_not(exc: BaseException) -> bool:
    """pybreaker's ``exclude`` predicate: caller errors, and neutral outcomes (muted)."""
    return isinstance(exc, CALLER_ERRORS) or is_neutral(exc)


class _MutableStorage(pybreaker.CircuitBreakerStorage):
    """Delegates to pybreaker's storage; drops counter writes while muted (this thread)."""

    def __init__(self, inner: pybreaker.CircuitBreakerStorage) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self._local = threading.local()

    @property
    def muted(self) -> bool:
        return getattr(self._local, "muted", False)

    @muted.setter
    def muted(self, value: bool) -> None:
        self._local.muted = value

    @property
    def state(self) -> str:
        return str(self.inner.state)

    @state.setter
    def state(self, state: str) -> None:
        self.inner.state = state

    def increment_counter(self) -> None:
        if not self.muted:
            self.inner.increment_counter()

    def reset_counter(self) -> None:
        if not self.muted:
            self.inner.reset_counter()

    def increment_success_counter(self) -> None:
        if not self.muted:
            self.inner.increment_success_counter()

    def reset_success_counter(self) -> None:
        if not self.muted:
            self.inner.reset_success_counter()

    @property
    def counter(self) -> int:
        return int(self.inner.counter)

    @property
    def success_counter(self) -> int:
        return int(self.inner.success_counter)

    @property
    def opened_at(self) -> datetime | None:
        value: datetime | None = self.inner.opened_at
        return value

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self.inner.opened_at = value


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, layer: BreakerLayer) -> None:
        self.layer = layer

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", None)
        if old is not None and old != new_state.name:
            self.layer.notify(BreakerStateChanged(self.layer.deployment, self.layer.name, old, new_state.name))


def _storage(config: Breaker, deployment: str, replica: str) -> pybreaker.CircuitBreakerStorage:
    if config.redis_url is None:
        return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
    client = sync_client(config.redis_url, timeout=1.0)
    return _RedisStorage(pybreaker.STATE_CLOSED, client, namespace=f"llmprod:breaker:{deployment}:{replica}")


class _RedisStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, but a Redis that is down when the breaker is built
    does not fail the client's construction: like pybreaker's own reads, it falls back
    to closed (and the keys are written on a later read that finds Redis up)."""

    def _initialize_redis_state(self, state: str) -> None:
        try:
            super()._initialize_redis_state(state)
        except redis_errors() as exc:
            log.warning("llmprod: breaker state store unreachable (%s); closed until it answers", type(exc).__name__)


class BreakerLayer:
    """Guards one replica: fails fast with :class:`CircuitOpenError` while open."""

    def __init__(self, inner: Backend, config: Breaker, emit: Emit, *, deployment: str) -> None:
        self.inner = inner
        self.config = config
        self.emit = emit
        self.deployment = deployment
        self.name = inner.name
        self._storage = _MutableStorage(_storage(config, deployment, inner.name))
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=config.fail_max,
            reset_timeout=config.reset_timeout,
            exclude=[_counts_not],
            listeners=[_Listener(self)],
            state_storage=self._storage,
            name=f"{deployment}/{inner.name}",
            throw_new_error_on_trip=False,
        )
        self._probing = False
        self._blocking = config.redis_url is not None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        return str(self.breaker.current_state)

    def _retry_after(self) -> float | None:
        """Seconds until the breaker half-opens (blocking with Redis: call on a thread)."""
        opened_at = self._storage.opened_at
        if opened_at is None:
            return None
        elapsed = (datetime.now(UTC) - opened_at).total_seconds()
        return max(self.config.reset_timeout - elapsed, 0.0)

    def _admit(self, guard: AbstractContextManager[None]) -> bool | float | None:
        """Enter pybreaker: True for the half-open probe, False for a normal call,
        else (refused) the seconds until it half-opens, when known."""
        try:
            guard.__enter__()
        except pybreaker.CircuitBreakerError:
            return self._retry_after()
        return self.breaker.current_state == pybreaker.STATE_HALF_OPEN

    def _open_error(self, request: ChatRequest, retry_after: float | None) -> CircuitOpenError:
        trace = request.trace
        record = AttemptRecord(self.deployment, self.name, "circuit_open", 0.0, error="CircuitOpenError")
        if trace is not None:
            trace.record(record)
        self.emit(AttemptFinished(trace.call_id if trace else None, record))
        return CircuitOpenError(self.deployment, replica=self.name, retry_after=retry_after)

    def notify(self, event: BreakerStateChanged) -> None:
        """Emit on the event loop's thread, also when pybreaker changes state on a worker thread."""
        loop = self._loop
        if loop is not None and _running_loop() is not loop and not loop.is_closed():
            loop.call_soon_threadsafe(self.emit, event)
        else:
            self.emit(event)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._blocking:
            return fn(*args)
        self._loop = asyncio.get_running_loop()
        return await asyncio.to_thread(fn, *args)

    async def _enter(self, request: ChatRequest) -> tuple[AbstractContextManager[None], bool]:
        """Enter the breaker; returns its context and whether this call is the half-open probe."""
        if self._probing:
            raise self._open_error(request, None)
        guard: AbstractContextManager[None] = self.breaker.calling()
        admitted = await self._run(self._admit, guard)
        if not isinstance(admitted, bool):
            raise self._open_error(request, admitted)
        if admitted and self._probing:  # another probe got in while we waited on the thread
            _leave(self._storage, guard, asyncio.CancelledError())
            raise self._open_error(request, None)
        self._probing = self._probing or admitted
        return guard, admitted

    async def _leave(self, guard: AbstractContextManager[None], probe: bool, exc: BaseException | None) -> None:
        try:
            if exc is not None and is_neutral(exc):
                # Quick and local in memory; never awaited on a thread, so a second
                # cancellation cannot leave the breaker entered.
                _leave(self._storage, guard, exc)
            else:
                await self._run(_leave, self._storage, guard, exc)
        finally:
            if probe:
                self._probing = False

    async def complete(self, request: ChatRequest) -> ChatResponse:
        guard, probe = await self._enter(request)
        try:
            response = await self.inner.complete(request)
        except BaseException as exc:
            await self._leave(guard, probe, exc)
            raise
        await self._leave(guard, probe, None)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        guard, probe = await self._enter(request)
        stream = self.inner.stream(request)
        try:
            async for chunk in stream:
                yield chunk
        except BaseException as exc:
            await aclose_stream(stream)
            await self._leave(guard, probe, exc)
            raise
        await self._leave(guard, probe, None)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _leave(storage: _MutableStorage, guard: AbstractContextManager[None], exc: BaseException | None) -> None:
    """Leave pybreaker's context with the call's outcome; re-raise nothing.

    A neutral outcome is passed as excluded (pybreaker then counts a success) with
    the storage muted, so the counters and the half-open state stay as they were.
    With ``throw_new_error_on_trip=False`` the tripping call re-raises its own error.
    """
    if exc is None:
        guard.__exit__(None, None, None)
        return
    storage.muted = is_neutral(exc)
    try:
        guard.__exit__(type(exc), exc, exc.__traceback__)
    except BaseException as raised:
        if raised is not exc:
            raise
    finally:
        storage.muted = False


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
