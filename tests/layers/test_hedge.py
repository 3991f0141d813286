"""Hedged requests: the first answer wins, the loser is cancelled cleanly, a budget
bounds the extra load, and streams hedge only before their first chunk.

Time is the event loop's, run virtual (looptime): the delays cost no real time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import llmprod
from llmprod import ChatChunk, Hedge, Message
from llmprod._core.deployment import Deployment
from llmprod._core.events import Event, HedgeSent
from llmprod.backends import ChatRequest
from llmprod.errors import ServerError
from llmprod.layers.balance import BalanceLayer
from llmprod.testing import FakeBackend

pytestmark = pytest.mark.looptime


def request() -> ChatRequest:
    return ChatRequest(messages=(Message("user", "hi"),))


class Replica(FakeBackend):
    """Answers after ``delay`` seconds; records cancellations."""

    def __init__(self, name: str, delay: float = 0.0, answer: object = None) -> None:
        super().__init__(self._handle, name=name)
        self.delay = delay
        self.answer = answer if answer is not None else f"from {name}"
        self.cancelled = 0

    async def _handle(self, _: ChatRequest) -> object:
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.answer


def hedged(backends: list[FakeBackend], events: list[Event] | None = None, **hedge: float | str) -> BalanceLayer:
    sink = events.append if events is not None else (lambda e: None)
    deployment = Deployment(replicas=backends, name="dep", balance="round_robin", hedge=Hedge(**hedge))  # type: ignore[arg-type]
    return BalanceLayer(backends, deployment, sink)


async def test_slow_primary_is_hedged_and_cancelled() -> None:
    slow, fast = Replica("slow", delay=5.0), Replica("fast")
    events: list[Event] = []
    balance = hedged([slow, fast], events, delay=0.05, max_extra=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await balance.complete(request())
    assert response.text == "from fast"
    assert loop.time() - started == pytest.approx(0.05)  # the hedge's delay, not the slow replica's 5 s
    assert slow.cancelled == 1 and balance.hedges == 1
    assert [(e.deployment, e.replica) for e in events if isinstance(e, HedgeSent)] == [("dep", "fast")]
    assert all(task.done() or task is asyncio.current_task() for task in asyncio.all_tasks())


async def test_fast_primary_sends_no_hedge() -> None:
    a, b = Replica("a"), Replica("b")
    balance = hedged([a, b], delay=1.0, max_extra=1.0)
    for _ in range(4):
        await balance.complete(request())
    assert balance.hedges == 0 and len(a.requests) + len(b.requests) == 4


async def test_budget_bounds_extra_requests() -> None:
    slow = Replica("slow", delay=0.01)
    balance = hedged([slow], delay=0.001, max_extra=0.1)
    for _ in range(40):
        await balance.complete(request())
    # 10 % of 40 calls, plus at most one banked token
    assert 1 <= balance.hedges <= 5
    assert len(slow.requests) == 40 + balance.hedges


async def test_p95_delay_needs_observations_first() -> None:
    replica = Replica("r", delay=0.0)
    balance = hedged([replica], delay="p95", max_extra=1.0, min_delay=0.01)
    for _ in range(25):
        await balance.complete(request())
    assert balance.hedges == 0
    replica.delay = 0.3  # now slow: far past the observed p95
    first = asyncio.create_task(balance.complete(request()))
    while balance.hedges == 0:
        await asyncio.sleep(0.01)
    replica.delay = 0.0
    assert (await first).text == "from r"
    assert replica.cancelled == 1


async def test_primary_failing_after_the_hedge_lets_the_hedge_win() -> None:
    class FailsLate(Replica):
        async def _handle(self, request: ChatRequest) -> object:
            await asyncio.sleep(0.1)
            return ServerError("late failure", status=503)

    balance = hedged([FailsLate("bad"), Replica("good", delay=0.2)], delay=0.02, max_extra=1.0)
    assert (await balance.complete(request())).text == "from good"


async def test_both_failing_raise_the_primary_error() -> None:
    a = FakeBackend(lambda r: asyncio.sleep(0.05, result=ServerError("primary", status=503)), name="a")  # type: ignore[arg-type]
    b = FakeBackend(lambda r: asyncio.sleep(0.06, result=ServerError("hedge", status=502)), name="b")  # type: ignore[arg-type]
    with pytest.raises(ServerError, match="primary"):
        await hedged([a, b], delay=0.01, max_extra=1.0).complete(request())


async def test_caller_cancelling_leaves_no_task_running() -> None:
    a, b = Replica("a", delay=5.0), Replica("b", delay=5.0)
    balance = hedged([a, b], delay=0.01, max_extra=1.0)
    call = asyncio.create_task(balance.complete(request()))
    while balance.hedges == 0:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert a.cancelled == 1 and b.cancelled == 1
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert [r.inflight for r in balance.replicas] == [0, 0]


class SlowStart(FakeBackend):
    """Streams its answer; waits ``first`` seconds before the first chunk, ``gap`` after."""

    def __init__(self, name: str, first: float, gap: float = 0.0) -> None:
        super().__init__(lambda r: f"{name} says hello", name=name)
        self.first, self.gap = first, gap
        self.closed_early = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        await asyncio.sleep(self.first)
        try:
            async for chunk in super().stream(request):
                yield chunk
                await asyncio.sleep(self.gap)
        except GeneratorExit:
            self.closed_early += 1
            raise


async def test_stream_hedge_wins_before_the_first_chunk() -> None:
    slow, fast = SlowStart("slow", first=5.0), SlowStart("fast", first=0.0)
    balance = hedged([slow, fast], delay=0.05, max_extra=1.0)
    text = "".join([c.text async for c in balance.stream(request())])
    assert text == "fast says hello" and balance.hedges == 1
    assert fast.requests and not slow.requests  # the slow one never produced its answer
    assert [r.inflight for r in balance.replicas] == [0, 0]


async def test_stream_is_not_hedged_after_its_first_chunk() -> None:
    dripping, other = SlowStart("drip", first=0.0, gap=0.05), SlowStart("other", first=0.0)
    balance = hedged([dripping, other], delay=0.01, max_extra=1.0)
    text = "".join([c.text async for c in balance.stream(request())])
    assert text == "drip says hello" and balance.hedges == 0 and other.requests == []


async def test_attempt_log_marks_the_hedge_through_the_client() -> None:
    slow, fast = Replica("slow", delay=5.0), Replica("fast")
    deployment = Deployment(
        replicas=[slow, fast], name="dep", balance="round_robin", hedge=Hedge(delay=0.05, max_extra=1.0)
    )
    async with llmprod.AsyncClient(deployment, telemetry=False) as client:
        r = await client.chat("hi")
    assert r.text == "from fast" and r.attempts == 2
    log = sorted(r.attempt_log, key=lambda a: a.replica)
    assert [(a.replica, a.outcome, a.hedge) for a in log] == [("fast", "ok", True), ("slow", "cancelled", False)]
