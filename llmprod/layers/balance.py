"""Load balancing over one deployment's replicas, and hedged requests.

Each call orders the replicas by the deployment's strategy (:func:`order`) and tries
them in turn while they fail fast with :class:`CircuitOpenError`; a replica whose
breaker is known to be open goes last. Any other error ends the attempt (the retry
layer above decides what next).

With ``Deployment.hedge`` set, a call that has no answer after the hedge delay (fixed,
or the observed p95) sends a second request to the next replica; the first answer
wins and the other is cancelled. A budget bounds hedges to ``max_extra`` of calls.
Balancing and hedging act on opening a call: a stream is hedged only until its
first chunk, and the loser of a hedge is closed (its connection released).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

from .._core.backend import Backend
from .._core.call import Call, Layer, Opened, attempts_of, note_attempts
from .._core.clock import now
from .._core.config import BalanceStrategy
from .._core.deployment import Deployment
from .._core.errors import CircuitOpenError
from .._core.events import Emit, HedgeSent
from .._core.models import AttemptRecord
from .attempt import as_layer

EWMA_ALPHA = 0.3
P95_MIN_SAMPLES = 20
HEDGE_BURST = 100  # hedges may be banked over this many calls: slow calls come in bursts


class Replica:
    """One replica and what the balancer knows about it."""

    __slots__ = ("backend", "current", "ewma", "inflight", "open_until", "weight")

    def __init__(self, backend: Layer, weight: float = 1.0) -> None:
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


class BalanceLayer(Layer):
    """Spreads one deployment's calls over its replicas; hedges when configured."""

    def __init__(
        self,
        replicas: Sequence[Layer | Backend],
        deployment: Deployment,
        emit: Emit,
        *,
        rng: random.Random | None = None,
    ) -> None:
        weights = deployment.weights or [1.0] * len(replicas)
        self.replicas = [Replica(as_layer(b), float(w)) for b, w in zip(replicas, weights, strict=True)]
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
        return order(self.deployment.balance, self.replicas, turn=turn, rng=self.rng, now=now())

    def _observe(self, replica: Replica, started: float, *, failed: bool = False) -> None:
        latency = now() - started
        replica.observe(latency, failed=failed)
        if not failed:
            self._latencies.append(latency)
            if len(self._latencies) >= P95_MIN_SAMPLES and (self._p95 is None or len(self._latencies) % 16 == 0):
                ranked = sorted(self._latencies)
                self._p95 = ranked[int(0.95 * (len(ranked) - 1))]

    async def _open_first(self, replicas: list[Replica], call: Call) -> Opened:
        """Open ``call`` on the first replica whose breaker lets it through."""
        refused: list[CircuitOpenError] = []
        skipped: tuple[AttemptRecord, ...] = ()
        for replica in replicas:
            try:
                opened = await self._open_one(replica, call)
            except CircuitOpenError as exc:
                replica.open_until = now() + (exc.retry_after or 0.0)
                refused.append(exc)
                skipped += attempts_of(exc)
                continue
            except BaseException as exc:
                note_attempts(exc, skipped)
                raise
            opened.attempts = skipped + opened.attempts
            return opened
        waits = [e.retry_after for e in refused if e.retry_after is not None]
        error = CircuitOpenError(self.name, retry_after=min(waits) if waits else None)
        note_attempts(error, skipped)
        raise error from refused[-1]

    async def _open_one(self, replica: Replica, call: Call) -> Opened:
        replica.inflight += 1
        started = now()
        try:
            opened = await replica.backend.open(call)
        except BaseException as exc:
            replica.inflight -= 1
            if isinstance(exc, Exception) and not isinstance(exc, CircuitOpenError):
                self._observe(replica, started, failed=True)
            raise
        self._observe(replica, started)
        opened.on_close(self, replica)
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        state.inflight -= 1

    async def open(self, call: Call) -> Opened:
        replicas = self._order()
        delay = self._hedge_delay(call)
        if delay is None:
            return await self._open_first(replicas, call)
        return await self._hedged(call, replicas, delay)

    def _hedge_delay(self, call: Call) -> float | None:
        """Seconds to wait before hedging, or None for no hedge on this call."""
        hedge = self.hedge
        if hedge is None:
            return None
        self._tokens = min(HEDGE_BURST * hedge.max_extra + 1, self._tokens + hedge.max_extra)
        delay = hedge.delay if hedge.delay != "p95" else self._p95
        if delay is None:
            return None
        delay = max(float(delay), hedge.min_delay)
        left = call.time_left()
        return None if left is not None and delay >= left else delay

    async def _hedged(self, call: Call, replicas: list[Replica], delay: float) -> Opened:
        failed: dict[asyncio.Future[Opened], tuple[AttemptRecord, ...]] = {}

        async def attempt(on: list[Replica], this: Call) -> Opened:
            try:
                return await self._open_first(on, this)
            except BaseException as exc:  # a cancelled task keeps no error: keep its attempts here
                failed[asyncio.current_task()] = attempts_of(exc)  # type: ignore[index]
                raise

        tasks = [asyncio.ensure_future(attempt(replicas, call))]
        winner: asyncio.Future[Opened] | None = None
        try:
            await asyncio.wait(tasks, timeout=delay)
            if not tasks[0].done() and self._tokens >= 1.0:
                self._tokens -= 1.0
                self.hedges += 1
                others = replicas[1:] + replicas[:1]
                self.emit(HedgeSent(call.id, self.name, others[0].name))
                tasks.append(asyncio.ensure_future(attempt(others, call.hedged())))
            winner = await _first_answer(tasks)
        finally:
            losers = await _cancel_losers(tasks, winner, failed)
        if winner is None:  # every task failed: the first one's error, with every attempt
            error = tasks[0].exception()
            assert error is not None
            note_attempts(error, losers)
            raise error
        opened = winner.result()
        opened.attempts = losers + opened.attempts
        return opened

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.backend.aclose()


async def _first_answer(tasks: Sequence[asyncio.Future[Opened]]) -> asyncio.Future[Opened] | None:
    """The first task that opened its call; None when all failed."""
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task in done and not task.cancelled() and task.exception() is None:
                return task
    return None


async def _cancel_losers(
    tasks: Sequence[asyncio.Future[Opened]],
    winner: asyncio.Future[Opened] | None,
    failed: dict[asyncio.Future[Opened], tuple[AttemptRecord, ...]],
) -> tuple[AttemptRecord, ...]:
    """Cancel the tasks still running, close calls nobody takes; the losers' attempts
    (all but the first task's when nobody won: its error carries its own)."""
    for task in tasks:
        if task is not winner:
            task.cancel()
    await asyncio.wait(tasks)
    records: tuple[AttemptRecord, ...] = ()
    for task in tasks:
        if task is winner or (winner is None and task is tasks[0]):
            continue
        if task.cancelled() or task.exception() is not None:
            records += failed.get(task, ())
            continue
        loser = task.result()
        await loser.close_quietly(asyncio.CancelledError())
        records += loser.attempts
    return records
