"""The circuit breaker, one per replica, on pybreaker's state machine.

pybreaker runs closed / open / half-open; this layer decides what counts and when to
open, and adds what pybreaker 1.4.1 lacks under asyncio:

- **when it opens**: by default on an error rate over a sliding window with a minimum
  volume (``Breaker(failure_rate=0.5, minimum_calls=20, window=10)``: see
  ``_breaker_window.py``), so random faults do not open it and a dead replica does at
  once; ``Breaker(fail_max=N)`` keeps pybreaker's own rule (N consecutive failures);
- **what counts**: a caller's error (400, 401, 403, 404, 422, bad input, a guard's
  verdict) never does — the replica answered —, a cancellation (a hedge's loser, a
  caller that gave up) or the call's own deadline is *neutral* (neither failure nor
  success), and one call counts at most once per replica however often it is retried;
- it is entered with ``with breaker.calling():`` around the open (``call()`` holds a
  lock for the whole call and has no asyncio support), and left when the call ends;
- half-open admits exactly one probe: while it runs, other calls fail fast;
- ``CircuitBreakerError`` becomes :class:`CircuitOpenError` (with an attempt record);
  the call that trips the breaker keeps its own error.

With ``Breaker.redis_url`` the state and the window are shared through Redis
(pybreaker's storage). Its client blocks, so entering and leaving then run in a
thread; state changes still reach the hooks on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker

from .._core.call import Call, Layer, Opened, note_attempts
from .._core.clock import now
from .._core.config import Breaker
from .._core.errors import (
    AccessDeniedError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ContentPolicyError,
    DeadlineExceededError,
    InputRejectedError,
    InvalidRequestError,
    NotFoundError,
    OutputRejectedError,
)
from .._core.events import AttemptFinished, BreakerStateChanged, Emit
from .._core.models import AttemptRecord
from .._core.redis import errors as redis_errors
from .._core.redis import sync_client
from ._breaker_window import MemoryWindow, RedisWindow, Rule, Window

T = TypeVar("T")
log = logging.getLogger("llmprod")

# The replica answered, or was never asked: these never count as failures.
CALLER_ERRORS: tuple[type[BaseException], ...] = (
    BadRequestError,
    AuthenticationError,
    NotFoundError,
    ContentPolicyError,
    InvalidRequestError,
    AccessDeniedError,
    InputRejectedError,
    OutputRejectedError,
)
# Say nothing about the replica's health.
NEUTRAL: tuple[type[BaseException], ...] = (asyncio.CancelledError, GeneratorExit, DeadlineExceededError)
_CALLS_REMEMBERED = 4096  # calls that already counted a failure here (one call counts once)


def is_neutral(exc: BaseException) -> bool:
    return isinstance(exc, NEUTRAL)


def counts_as_failure(exc: BaseException | None) -> bool:
    return exc is not None and not isinstance(exc, CALLER_ERRORS) and not is_neutral(exc)


def _counts_not(exc: BaseException) -> bool:
    """pybreaker's ``exclude`` predicate: caller errors, and neutral outcomes (muted)."""
    return isinstance(exc, CALLER_ERRORS) or is_neutral(exc)


class _Storage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage, with what this layer needs on top.

    - ``muted`` (per thread) drops the bookkeeping of a neutral outcome;
    - with a window, ``counter`` answers the window's verdict (``fail_max`` is 1);
    - in memory, ``opened_at`` runs on the event loop's clock (a test's virtual clock
      reaches the half-open transition too); in Redis it stays a shared wall-clock time.
    """

    def __init__(self, inner: pybreaker.CircuitBreakerStorage, window: Window | None, *, local: bool) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self.window = window
        self._local_clock = local
        self._opened: float | None = None
        self._thread = threading.local()

    @property
    def muted(self) -> bool:
        return getattr(self._thread, "muted", False)

    @muted.setter
    def muted(self, value: bool) -> None:
        self._thread.muted = value

    @property
    def state(self) -> str:
        return str(self.inner.state)

    @state.setter
    def state(self, state: str) -> None:
        self.inner.state = state

    def increment_counter(self) -> None:
        if not self.muted and self.window is None:
            self.inner.increment_counter()

    def reset_counter(self) -> None:
        if not self.muted and self.window is None:
            self.inner.reset_counter()

    def increment_success_counter(self) -> None:
        if not self.muted:
            self.inner.increment_success_counter()

    def reset_success_counter(self) -> None:
        if not self.muted:
            self.inner.reset_success_counter()

    @property
    def counter(self) -> int:
        if self.window is not None:
            return 1 if self.window.tripped(self.clock()) else 0
        return int(self.inner.counter)

    @property
    def success_counter(self) -> int:
        return int(self.inner.success_counter)

    @property
    def opened_at(self) -> datetime | None:
        if self._local_clock:
            if self._opened is None:
                return None
            return datetime.now(UTC) - timedelta(seconds=now() - self._opened)
        value: datetime | None = self.inner.opened_at
        return value

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        if self._local_clock:
            self._opened = now()
        else:
            self.inner.opened_at = value

    def clock(self) -> float:
        if self._local_clock:
            return now()
        return datetime.now(UTC).timestamp()

    def record(self, failed: bool) -> None:
        if self.window is not None and not self.muted:
            self.window.record(failed, self.clock())


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, layer: BreakerLayer) -> None:
        self.layer = layer

    def failure(self, cb: Any, exc: BaseException) -> None:
        self.layer.storage.record(True)

    def success(self, cb: Any) -> None:
        self.layer.storage.record(False)

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", None)
        if old is None or old == new_state.name:
            return
        if new_state.name == pybreaker.STATE_CLOSED and self.layer.storage.window is not None:
            self.layer.storage.window.clear()
        self.layer.notify(BreakerStateChanged(self.layer.deployment, self.layer.name, old, new_state.name))


class _RedisStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, but a Redis that is down when the breaker is built
    does not fail the client's construction: like pybreaker's own reads, it falls back
    to closed (and the keys are written on a later read that finds Redis up)."""

    def _initialize_redis_state(self, state: str) -> None:
        try:
            super()._initialize_redis_state(state)
        except redis_errors() as exc:
            log.warning("llmprod: breaker state store unreachable (%s); closed until it answers", type(exc).__name__)


def _storage(config: Breaker, deployment: str, replica: str) -> _Storage:
    rule = (
        None
        if config.fail_max is not None
        else Rule(failure_rate=config.failure_rate, minimum_calls=config.minimum_calls, window=config.window)
    )
    if config.redis_url is None:
        window = MemoryWindow(rule) if rule is not None else None
        return _Storage(pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED), window, local=True)
    client = sync_client(config.redis_url, timeout=1.0)
    namespace = f"llmprod:breaker:{deployment}:{replica}"
    inner = _RedisStorage(pybreaker.STATE_CLOSED, client, namespace=namespace)
    return _Storage(inner, RedisWindow(rule, client, namespace) if rule is not None else None, local=False)


class BreakerLayer(Layer):
    """Guards one replica: fails fast with :class:`CircuitOpenError` while open."""

    def __init__(self, inner: Layer, config: Breaker, emit: Emit, *, deployment: str) -> None:
        super().__init__(inner)
        self.config = config
        self.emit = emit
        self.deployment = deployment
        self.storage = _storage(config, deployment, inner.name)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=config.fail_max or 1,
            reset_timeout=config.reset_timeout,
            exclude=[_counts_not],
            listeners=[_Listener(self)],
            state_storage=self.storage,
            name=f"{deployment}/{inner.name}",
            throw_new_error_on_trip=False,
        )
        self._probing = False
        self._blocking = config.redis_url is not None
        self._local = not self._blocking
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed_calls: OrderedDict[str, None] = OrderedDict()

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        return str(self.breaker.current_state)

    def _retry_after(self) -> float | None:
        """Seconds until the breaker half-opens (blocking with Redis: call on a thread)."""
        opened_at = self.storage.opened_at
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

    def _open_error(self, call: Call, retry_after: float | None) -> CircuitOpenError:
        record = AttemptRecord(
            self.deployment, self.name, "circuit_open", 0.0, error="CircuitOpenError", hedge=call.hedge
        )
        self.emit(AttemptFinished(call.id, record))
        error = CircuitOpenError(self.deployment, replica=self.name, retry_after=retry_after)
        note_attempts(error, (record,))
        return error

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

    async def _enter(self, call: Call) -> tuple[AbstractContextManager[None], bool]:
        """Enter the breaker; returns its context and whether this call is the half-open probe."""
        if self._probing:
            raise self._open_error(call, None)
        guard: AbstractContextManager[None] = self.breaker.calling()
        admitted = await self._run(self._admit, guard)
        if not isinstance(admitted, bool):
            raise self._open_error(call, admitted)
        if admitted and self._probing:  # another probe got in while we waited on the thread
            _leave(self.storage, guard, asyncio.CancelledError())
            raise self._open_error(call, None)
        self._probing = self._probing or admitted
        return guard, admitted

    def _outcome(self, call: Call, exc: BaseException | None) -> BaseException | None:
        """What pybreaker is told: a failure counts once per call (later ones are neutral)."""
        if not counts_as_failure(exc):
            return exc
        if call.id in self._failed_calls:
            return asyncio.CancelledError()
        self._failed_calls[call.id] = None
        if len(self._failed_calls) > _CALLS_REMEMBERED:
            self._failed_calls.popitem(last=False)
        return exc

    async def _leave(
        self, guard: AbstractContextManager[None], probe: bool, call: Call, exc: BaseException | None
    ) -> None:
        told = self._outcome(call, exc)
        try:
            if told is not None and is_neutral(told):
                # Quick and local in memory; never awaited on a thread, so a second
                # cancellation cannot leave the breaker entered.
                _leave(self.storage, guard, told)
            else:
                await self._run(_leave, self.storage, guard, told)
        finally:
            if probe:
                self._probing = False

    async def open(self, call: Call) -> Opened:
        if self._local and self.storage.state == pybreaker.STATE_CLOSED:
            # Closed, in memory: a call that succeeds leaves pybreaker nothing to do, so it
            # is not entered; a failure is handed to it (it decides whether to open).
            try:
                opened = await self.inner.open(call)
            except BaseException as exc:
                self._closed_outcome(call, exc)
                raise
            opened.on_close(self, (None, False, call))
            return opened
        guard, probe = await self._enter(call)
        try:
            opened = await self.inner.open(call)
        except BaseException as exc:
            await self._leave(guard, probe, call, exc)
            raise
        opened.on_close(self, (guard, probe, call))
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        guard, probe, call = state
        if guard is None:
            self._closed_outcome(call, error)
        else:
            await self._leave(guard, probe, call, error)

    def _closed_outcome(self, call: Call, exc: BaseException | None) -> None:
        """What pybreaker would do with a call made while closed, without entering it for
        a success: a success or a caller's error counts as a success (and resets the
        consecutive count); a neutral outcome counts as nothing; a failure goes to
        pybreaker, which counts it and opens the breaker when its rule says so."""
        told = self._outcome(call, exc)
        if told is not None and is_neutral(told):
            return
        if told is None or isinstance(told, CALLER_ERRORS):
            self.storage.record(False)
            if self.storage.window is None and self.storage.counter:
                self.storage.reset_counter()
            return
        guard: AbstractContextManager[None] = self.breaker.calling()
        try:
            guard.__enter__()
        except pybreaker.CircuitBreakerError:
            return  # another call opened it meanwhile: this failure changes nothing
        _leave(self.storage, guard, told)


def _leave(storage: _Storage, guard: AbstractContextManager[None], exc: BaseException | None) -> None:
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
