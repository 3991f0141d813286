"""Load balancing over one deployment's replicas, and hedged requests.

Each call orders the replicas by the deployment's strategy (:func:`order`) and tries
them in turn while they fail fast with :class:`CircuitOpenError`; a replica whose
breaker is known to be open goes last. Any other error ends the attempt (the retry
layer above decides what next).

With ``Deployment.hedge`` set, a call that has no answer after the hedge delay (fixed,
or the observed p95) sends a second request to the next replica; the first answer
wins and the other is cancelled. A budget bounds hedges to ``max_extra`` of calls.
A stream is hedged only until its first chunk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from .._core.backend import Backend, Emit
from .._core.config import BalanceStrategy
from .._core.deadline import time_left
from .._core.deployment import Deployment
from .._core.errors import CircuitOpenError
from .._core.events import HedgeSent
from .._core.models import AttemptRecord, CallTrace, ChatChunk, ChatRequest, ChatResponse
from ._streams import aclose_stream

T = TypeVar("T")
EWMA_ALPHA = 0.3
P95_MIN_SAMPLES = 20
HEDGE_BURST = 100  # hedges may be banked over this many calls: slow calls come in bursts
Opened = tuple[ChatChunk | None, AsyncIterator[ChatChunk], "Replica"]


class Replica:
    """One replica and what the balancer knows about it."""

    __slots__ = ("backend", "current", "ewma", "inflight", "open_until", "weight")

    def __init__(self, backend: Backend, weight: float = 1.0) -> None:
        self.backend = backend
        self.weight = weight
        self.inflight = 0
        self.ewma = 0.0  # optimistic: a new replica gets traffic
        self.open_until = 0.0
        self.current = 0.0  # smooth weighted round robin

    @property
    def name(self) -> str:
        return self.backend.name

    def observe(self, latency: float, *, failed: bool = False) -> None:
        if failed:
            latency = 2 * max(latency, self.ewma)
        self.ewma = latency if self.ewma == 0.0 else EWMA_ALPHA * latency + (1 - EWMA_ALPHA) * self.ewma


def order(
    strategy: BalanceStrategy, replicas: Sequence[Replica], *, turn: int, rng: random.Random, now: float
) -> list[Replica]:
    """The replicas in the order to try them; those known to be open go last."""
    n = len(replicas)
    rotated = [replicas[(turn + i) % n] for i in range(n)]
    if strategy == "least_inflight":
        ranked = sorted(rotated, key=lambda r: r.inflight)
    elif strategy == "latency":
        ranked = sorted(rotated, key=_score)
        if n > 1:  # power of two choices: the better of two random replicas goes first
            a, b = rng.sample(range(n), 2)
            best = min(replicas[a], replicas[b], key=_score)
            ranked.remove(best)
            ranked.insert(0, best)
    elif strategy == "weighted":
        total = sum(max(r.weight, 0.0) for r in replicas)
        for r in replicas:
            r.current += max(r.weight, 0.0)
        best = max(replicas, key=lambda r: r.current)
        best.current -= total
        ranked = [best, *sorted((r for r in replicas if r is not best), key=lambda r: -r.weight)]
    else:
        ranked = rotated
    return sorted(ranked, key=lambda r: r.open_until > now)


def _score(replica: Replica) -> float:
    return replica.ewma * (replica.inflight + 1)


class _HedgeTrace(CallTrace):
    """The call's trace as a hedge sees it: same records, each marked ``hedge``."""

    __slots__ = ()

    def record(self, attempt: AttemptRecord) -> None:
        super().record(dataclasses.replace(attempt, hedge=True))


def _hedge_request(request: ChatRequest) -> ChatRequest:
    trace = request.trace
    if trace is None:
        return request
    shared = _HedgeTrace(**{f.name: getattr(trace, f.name) for f in dataclasses.fields(CallTrace)})
    return dataclasses.replace(request, trace=shared)


class BalanceLayer:
    """Spreads one deployment's calls over its replicas; hedges when configured."""

    def __init__(
        self, replicas: Sequence[Backend], deployment: Deployment, emit: Emit, *, rng: random.Random | None = None
    ) -> None:
        weights = deployment.weights or [1.0] * len(replicas)
        self.replicas = [Replica(b, float(w)) for b, w in zip(replicas, weights, strict=True)]
        self.deployment = deployment
        self.emit = emit
        self.name = deployment.label
        self.hedge = deployment.hedge
        self.rng = rng or random.Random()
        self.calls = 0
        self.hedges = 0
        self._tokens = 0.0
        self._latencies: deque[float] = deque(maxlen=512)
        self._p95: float | None = None

    def _order(self) -> list[Replica]:
        turn, self.calls = self.calls, self.calls + 1
        return order(self.deployment.balance, self.replicas, turn=turn, rng=self.rng, now=time.monotonic())

    def _observe(self, replica: Replica, started: float, *, failed: bool = False) -> None:
        latency = time.monotonic() - started
        replica.observe(latency, failed=failed)
        if not failed:
            self._latencies.append(latency)
            if len(self._latencies) >= P95_MIN_SAMPLES and (self._p95 is None or len(self._latencies) % 16 == 0):
                ranked = sorted(self._latencies)
                self._p95 = ranked[int(0.95 * (len(ranked) - 1))]

    async def _attempt(self, replicas: list[Replica], call: Callable[[Replica], Awaitable[T]]) -> T:
        """``call`` on the first replica whose breaker lets it through."""
        refused: list[CircuitOpenError] = []
        for replica in replicas:
            try:
                return await call(replica)
            except CircuitOpenError as exc:
                replica.open_until = time.monotonic() + (exc.retry_after or 0.0)
                refused.append(exc)
        waits = [e.retry_after for e in refused if e.retry_after is not None]
        raise CircuitOpenError(self.name, retry_after=min(waits) if waits else None) from refused[-1]

    async def _complete_one(self, replica: Replica, request: ChatRequest) -> ChatResponse:
        replica.inflight += 1
        started = time.monotonic()
        try:
            response = await replica.backend.complete(request)
        except CircuitOpenError:
            raise
        except Exception:
            self._observe(replica, started, failed=True)
            raise
        finally:
            replica.inflight -= 1
        self._observe(replica, started)
        return response

    async def _open_one(self, replica: Replica, request: ChatRequest) -> Opened:
        """Start a stream on ``replica`` and wait for its first chunk (counted in flight)."""
        replica.inflight += 1
        started = time.monotonic()
        stream = replica.backend.stream(request)
        try:
            first: ChatChunk | None = await anext(stream)
        except StopAsyncIteration:
            first = None
        except BaseException as exc:
            replica.inflight -= 1
            await aclose_stream(stream)
            if isinstance(exc, Exception) and not isinstance(exc, CircuitOpenError):
                self._observe(replica, started, failed=True)
            raise
        self._observe(replica, started)
        return first, stream, replica

    async def complete(self, request: ChatRequest) -> ChatResponse:
        replicas = self._order()
        return await self._maybe_hedged(
            request, replicas, lambda req, rs: self._attempt(rs, lambda r: self._complete_one(r, req)), _no_cleanup
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        replicas = self._order()
        first, stream, replica = await self._maybe_hedged(
            request, replicas, lambda req, rs: self._attempt(rs, lambda r: self._open_one(r, req)), _release
        )
        try:
            if first is not None:
                yield first
                async for chunk in stream:
                    yield chunk
        finally:
            replica.inflight -= 1
            await aclose_stream(stream)

    def _hedge_delay(self, request: ChatRequest) -> float | None:
        """Seconds to wait before hedging, or None for no hedge on this call."""
        hedge = self.hedge
        if hedge is None:
            return None
        self._tokens = min(HEDGE_BURST * hedge.max_extra + 1, self._tokens + hedge.max_extra)
        delay = hedge.delay if hedge.delay != "p95" else self._p95
        if delay is None:
            return None
        delay = max(float(delay), hedge.min_delay)
        left = time_left(request)
        return None if left is not None and delay >= left else delay

    async def _maybe_hedged(
        self,
        request: ChatRequest,
        replicas: list[Replica],
        start: Callable[[ChatRequest, list[Replica]], Awaitable[T]],
        cleanup: Callable[[T], Awaitable[None]],
    ) -> T:
        delay = self._hedge_delay(request)
        if delay is None:
            return await start(request, replicas)
        tasks = [asyncio.ensure_future(start(request, replicas))]
        try:
            await asyncio.wait(tasks, timeout=delay)
            if not tasks[0].done() and self._tokens >= 1.0:
                self._tokens -= 1.0
                self.hedges += 1
                others = replicas[1:] + replicas[:1]
                trace = request.trace
                self.emit(HedgeSent(trace.call_id if trace else None, self.name, others[0].name))
                tasks.append(asyncio.ensure_future(start(_hedge_request(request), others)))
            return await _first_answer(tasks)
        finally:
            await _cancel_losers(tasks, cleanup)

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.backend.aclose()


async def _first_answer(tasks: Sequence[asyncio.Future[T]]) -> T:
    """The first successful result; if all fail, the first task's error."""
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task in done and not task.cancelled() and task.exception() is None:
                return task.result()
    return tasks[0].result()


async def _cancel_losers(tasks: Sequence[asyncio.Future[T]], cleanup: Callable[[T], Awaitable[None]]) -> None:
    """Cancel the tasks still running and wait for them; release answers nobody takes."""
    winner = next((t for t in tasks if t.done() and not t.cancelled() and t.exception() is None), None)
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if task is not winner and not task.cancelled() and task.exception() is None:
            await cleanup(task.result())


async def _no_cleanup(response: ChatResponse) -> None:
    return None


async def _release(opened: Opened) -> None:
    _, stream, replica = opened
    replica.inflight -= 1
    await aclose_stream(stream)
