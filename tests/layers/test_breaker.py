"""The breaker layer on pybreaker: opening (on an error rate over a window, or after
consecutive failures), failing fast, a single half-open probe, caller errors and
cancellations kept out of its counts, one call counting once, shared state on Redis.

Time is the event loop's, run virtual (looptime): the reset timeouts and attempt
timeouts below pass without waiting, and nothing is measured on a wall clock."""

from __future__ import annotations

import asyncio
import random

import pytest

import llmprod
from llmprod import Breaker, CircuitOpenError, DeadlineExceededError, Deployment, Message, Timeout
from llmprod._core.events import AttemptFinished, BreakerStateChanged, Event
from llmprod._core.stack import StackConfig
from llmprod.backends import ChatRequest
from llmprod.errors import BadRequestError, NotFoundError, ProviderTimeoutError, ServerError
from llmprod.layers import Call, as_layer, complete
from llmprod.layers.breaker import BreakerLayer
from llmprod.testing import FakeBackend

from .calls import deployment_stack, until

RESET = 0.2
pytestmark = pytest.mark.looptime


def request() -> ChatRequest:
    return ChatRequest(messages=(Message("user", "hi"),))


class Switch:
    """A handler whose answer the test sets; optionally held until released."""

    def __init__(self, answer: object = "ok") -> None:
        self.answer = answer
        self.gate: asyncio.Event | None = None

    async def __call__(self, _: ChatRequest) -> object:
        if self.gate is not None:
            await self.gate.wait()
        return self.answer


def breaker(
    switch: Switch, events: list[Event] | None = None, *, fail_max: int = 3
) -> tuple[BreakerLayer, FakeBackend]:
    backend = FakeBackend(switch)  # type: ignore[arg-type]
    sink = events.append if events is not None else (lambda e: None)
    return BreakerLayer(
        as_layer(backend), Breaker(fail_max=fail_max, reset_timeout=RESET), sink, deployment="dep"
    ), backend


async def fail(layer: BreakerLayer, times: int, exc: type[Exception] = ServerError) -> None:
    for _ in range(times):
        with pytest.raises(exc):
            await layer.complete(request())


async def test_opens_after_fail_max_and_fails_fast() -> None:
    events: list[Event] = []
    switch = Switch(ServerError("down", status=503))
    layer, backend = breaker(switch, events)
    await fail(layer, 3)  # the tripping call keeps its own error (not pybreaker's)
    assert layer.state == "open" and len(backend.requests) == 3
    for _ in range(5):
        with pytest.raises(CircuitOpenError) as info:
            await layer.complete(request())
        assert info.value.replica == "fake" and 0 < info.value.retry_after <= RESET
    assert len(backend.requests) == 3  # nothing reached the backend while open
    changes = [(e.old, e.new) for e in events if isinstance(e, BreakerStateChanged)]
    assert changes == [("closed", "open")]
    opens = [e for e in events if isinstance(e, AttemptFinished) and e.record.outcome == "circuit_open"]
    assert len(opens) == 5


async def test_caller_errors_do_not_count() -> None:
    switch = Switch(BadRequestError("bad", status=400))
    layer, backend = breaker(switch)
    await fail(layer, 10, BadRequestError)
    switch.answer = NotFoundError("no model", status=404)
    await fail(layer, 10, NotFoundError)
    assert layer.state == "closed" and len(backend.requests) == 20


async def test_cancellations_are_neutral() -> None:
    switch = Switch(ServerError("down", status=503))
    layer, backend = breaker(switch)
    await fail(layer, 2)
    switch.gate = asyncio.Event()
    tasks = [asyncio.create_task(layer.complete(request())) for _ in range(10)]
    while len(backend.requests) < 12:
        await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert layer.state == "closed"
    assert layer.breaker.fail_counter == 2  # neither counted nor reset
    switch.gate = None
    await fail(layer, 1)
    assert layer.state == "open"


async def test_deadline_exceeded_is_neutral() -> None:
    layer, _ = breaker(Switch(DeadlineExceededError("late")), fail_max=1)
    await fail(layer, 3, DeadlineExceededError)
    assert layer.state == "closed"


async def test_half_open_admits_one_probe_among_100_then_closes() -> None:
    events: list[Event] = []
    switch = Switch(ServerError("down", status=503))
    layer, backend = breaker(switch, events)
    await fail(layer, 3)
    await asyncio.sleep(RESET * 1.5)
    switch.answer, switch.gate = "ok", asyncio.Event()
    tasks = [asyncio.create_task(layer.complete(request())) for _ in range(100)]
    await until(lambda: sum(t.done() for t in tasks) == 99)  # every other call reached the breaker
    assert layer.state == "half-open"
    assert sum(t.done() for t in tasks) == 99 and len(backend.requests) == 4
    switch.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(isinstance(r, CircuitOpenError) for r in results) == 99
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert layer.state == "closed"
    assert (await layer.complete(request())).text == "ok"
    changes = [(e.old, e.new) for e in events if isinstance(e, BreakerStateChanged)]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]


async def test_failed_probe_reopens() -> None:
    layer, backend = breaker(Switch(ServerError("down", status=503)))
    await fail(layer, 3)
    await asyncio.sleep(RESET * 1.5)
    await fail(layer, 1)  # the probe, with its own error
    assert layer.state == "open" and len(backend.requests) == 4
    await fail(layer, 1, CircuitOpenError)
    assert len(backend.requests) == 4


async def test_cancelled_probe_lets_the_next_call_probe() -> None:
    switch = Switch(ServerError("down", status=503))
    layer, backend = breaker(switch)
    await fail(layer, 3)
    await asyncio.sleep(RESET * 1.5)
    switch.answer, switch.gate = "ok", asyncio.Event()
    probe = asyncio.create_task(layer.complete(request()))
    while len(backend.requests) < 4:
        await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert layer.state == "half-open"
    switch.gate = None
    assert (await layer.complete(request())).text == "ok"
    assert layer.state == "closed"


async def test_stream_failures_count_and_early_close_is_neutral() -> None:
    switch = Switch(ServerError("down", status=503))
    layer, _ = breaker(switch, fail_max=2)
    with pytest.raises(ServerError):
        async for _ in layer.stream(request()):
            pass
    switch.answer = "many words in this answer"
    stream = layer.stream(request())
    assert (await anext(stream)).text == "many "
    await stream.aclose()  # the caller stopped reading: neutral
    assert layer.breaker.fail_counter == 1
    switch.answer = ServerError("down", status=503)
    with pytest.raises(ServerError):
        async for _ in layer.stream(request()):
            pass
    assert layer.state == "open"
    with pytest.raises(CircuitOpenError):
        async for _ in layer.stream(request()):
            pass


async def test_attempt_timeouts_count_as_failures_in_the_stack() -> None:
    async def hang(_: ChatRequest) -> str:
        await asyncio.sleep(30)
        return "never"

    backend = FakeBackend(hang)
    config = StackConfig(retry=None, breaker=Breaker(fail_max=2, reset_timeout=30), timeout=Timeout(attempt=0.05))
    stack = deployment_stack(Deployment(replicas=[backend]), config)
    for _ in range(2):
        with pytest.raises(ProviderTimeoutError):
            await stack.complete(request())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(CircuitOpenError):
        await stack.complete(request())
    assert loop.time() - started == 0.0 and len(backend.requests) == 2  # failed fast: no wait at all


# -- the default rule: an error rate over a window, with a minimum volume -----------------


def windowed(switch: object, events: list[Event] | None = None) -> tuple[BreakerLayer, FakeBackend]:
    backend = FakeBackend(switch)  # type: ignore[arg-type]
    sink = events.append if events is not None else (lambda e: None)
    return BreakerLayer(as_layer(backend), Breaker(), sink, deployment="dep"), backend


async def test_random_faults_at_30_percent_never_open_the_default_breaker() -> None:
    rng = random.Random(7)
    layer, backend = windowed(lambda r: ServerError("flaky", status=503) if rng.random() < 0.3 else "ok")
    failures = 0
    for _ in range(3000):  # 100 calls a second for 30 s of virtual time
        try:
            await layer.complete(request())
        except ServerError:
            failures += 1
        await asyncio.sleep(0.01)
    assert layer.state == "closed" and len(backend.requests) == 3000
    assert 800 < failures < 1000  # the faults really were there


async def test_a_dead_replica_opens_the_default_breaker_within_its_first_second() -> None:
    events: list[Event] = []
    layer, backend = windowed(lambda r: ServerError("dead", status=503), events)
    loop = asyncio.get_running_loop()
    started = loop.time()
    while layer.state == "closed":
        with pytest.raises(ServerError):
            await layer.complete(request())
        await asyncio.sleep(0.02)  # 50 calls a second
    assert loop.time() - started < 1.0
    assert len(backend.requests) == Breaker().minimum_calls
    with pytest.raises(CircuitOpenError):
        await layer.complete(request())


async def test_below_the_minimum_volume_even_total_failure_does_not_open() -> None:
    layer, _ = windowed(lambda r: ServerError("dead", status=503))
    for _ in range(Breaker().minimum_calls - 1):
        with pytest.raises(ServerError):
            await layer.complete(request())
        await asyncio.sleep(1.0)  # spread out: the window holds at most 10 of them
    assert layer.state == "closed"


async def test_one_call_counts_once_however_often_it_is_retried() -> None:
    # A request the provider answers with a 500 (it is malformed, but says so badly):
    # with Retry(3) and fail_max=3, one such call used to open a healthy replica's breaker.
    bad = FakeBackend(lambda r: ServerError("internal error", status=500))
    config = StackConfig(retry=llmprod.Retry(attempts=3, initial=0.0, jitter=0.0), breaker=Breaker(fail_max=3))
    stack = deployment_stack(Deployment(replicas=[bad]), config)
    with pytest.raises(ServerError):
        await stack.complete(request())
    assert len(bad.requests) == 3
    breaker_layer = _breaker_of(stack)
    assert breaker_layer.state == "closed" and breaker_layer.breaker.fail_counter == 1


async def test_the_same_call_object_counts_once() -> None:
    layer, _ = breaker(Switch(ServerError("down", status=503)), fail_max=2)
    call = Call(request())
    for _ in range(3):
        with pytest.raises(ServerError):
            await complete(layer, call)
    assert layer.state == "closed" and layer.breaker.fail_counter == 1


def _breaker_of(stack: object) -> BreakerLayer:
    node = stack
    while not isinstance(node, BreakerLayer):
        node = node.inner  # type: ignore[attr-defined]
    return node


@pytest.mark.redis
@pytest.mark.looptime(False)
async def test_state_is_shared_through_redis(redis_server) -> None:  # type: ignore[no-untyped-def]
    config = Breaker(fail_max=2, reset_timeout=30, redis_url=redis_server.url)
    down = FakeBackend(lambda r: ServerError("down", status=503), name="replica-1")
    up = FakeBackend(lambda r: "ok", name="replica-1")
    here = BreakerLayer(as_layer(down), config, lambda e: None, deployment="dep")
    there = BreakerLayer(as_layer(up), config, lambda e: None, deployment="dep")  # another process's view
    await fail(here, 2)
    assert here.state == "open"
    with pytest.raises(CircuitOpenError):
        await there.complete(request())
    assert up.requests == []
