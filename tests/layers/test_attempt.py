"""The attempt layer's time bound: the smaller of ``Timeout.attempt`` and the time left
before the call's deadline, for the answer, the first chunk and each later chunk.

An attempt that the deadline bounds ends *as a timeout* at the deadline (its record
says ``timeout``, the call raises ``DeadlineExceededError``); an attempt that outlived
the deadline would be cut later by the call's backstop, and recorded ``cancelled``.
Time is the event loop's, run virtual (looptime): the hours below cost nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import llmprod
from llmprod import DeadlineExceededError, Timeout
from llmprod._core.events import AttemptFinished, Event
from llmprod.backends import ChatChunk, ChatRequest, ChatResponse
from llmprod.errors import ProviderTimeoutError
from llmprod.testing import FakeBackend

pytestmark = pytest.mark.looptime
HOUR = 3600.0


async def never(request: ChatRequest) -> str:
    await asyncio.sleep(HOUR)
    return "too late"


class StallsAfterOneChunk:
    name = "stalls"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(text="first ")
        await asyncio.sleep(HOUR)
        yield ChatChunk(text="never")

    async def aclose(self) -> None:
        return None


def client(backend: object, timeout: Timeout, events: list[Event], **options: object) -> llmprod.AsyncClient:
    options = {"retry": None, "breaker": None, "telemetry": False, **options}
    return llmprod.AsyncClient(backend, timeout=timeout, hooks=[events.append], **options)  # type: ignore[arg-type]


def attempts(events: list[Event]) -> list[tuple[str, str | None]]:
    return [(e.record.outcome, e.record.error) for e in events if isinstance(e, AttemptFinished)]


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_a_sooner_call_deadline_bounds_the_attempt(stream: bool) -> None:
    events: list[Event] = []
    loop = asyncio.get_running_loop()
    async with client(FakeBackend(never), Timeout(total=2, attempt=30, grace=5), events) as c:
        started = loop.time()
        with pytest.raises(DeadlineExceededError):
            if stream:
                async for _ in c.stream("hi"):
                    pass
            else:
                await c.chat("hi")
        ended = loop.time()
    assert attempts(events) == [("timeout", "DeadlineExceededError")]  # not cut later as "cancelled"
    assert ended - started == pytest.approx(2.0)  # at the deadline, not at the backstop (deadline + grace)


async def test_a_sooner_call_deadline_bounds_an_idle_stream() -> None:
    events: list[Event] = []
    loop = asyncio.get_running_loop()
    received: list[str] = []
    async with client(StallsAfterOneChunk(), Timeout(total=2, attempt=30, stream_idle=30, grace=5), events) as c:
        started = loop.time()
        with pytest.raises(llmprod.StreamInterruptedError) as raised:
            async for chunk in c.stream("hi"):
                received.append(chunk.text)
        ended = loop.time()
    assert received == ["first "] and raised.value.partial_text == "first "
    assert attempts(events) == [("timeout", "DeadlineExceededError")]
    assert isinstance(raised.value.__cause__, DeadlineExceededError)
    assert ended - started == pytest.approx(2.0)


async def test_a_sooner_attempt_timeout_is_retried_within_the_deadline() -> None:
    events: list[Event] = []
    loop = asyncio.get_running_loop()
    retry = llmprod.Retry(attempts=3, initial=0.5, jitter=0.0)
    async with client(FakeBackend(never), Timeout(total=10, attempt=3, grace=5), events, retry=retry) as c:
        started = loop.time()
        with pytest.raises(DeadlineExceededError):
            await c.chat("hi")
        ended = loop.time()
    # 3 s, wait 0.5, 3 s, wait 1.0, then the third attempt gets the 2.5 s left (the deadline).
    assert attempts(events) == [
        ("timeout", "ProviderTimeoutError"),
        ("timeout", "ProviderTimeoutError"),
        ("timeout", "DeadlineExceededError"),
    ]
    assert ended - started == pytest.approx(10.0)


async def test_an_attempt_timeout_alone_raises_provider_timeout() -> None:
    events: list[Event] = []
    async with client(FakeBackend(never), Timeout(total=HOUR, attempt=3), events) as c:
        with pytest.raises(ProviderTimeoutError):
            await c.chat("hi")
    assert attempts(events) == [("timeout", "ProviderTimeoutError")]


async def test_a_caller_that_gives_up_leaves_a_cancelled_attempt() -> None:
    # The other outcome, for contrast: the caller's own cancellation is not a timeout.
    events: list[Event] = []
    async with client(FakeBackend(never), Timeout(total=HOUR, attempt=HOUR), events) as c:
        task = asyncio.ensure_future(c.chat("hi"))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert attempts(events) == [("cancelled", "CancelledError")]
