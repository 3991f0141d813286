"""The chaos matrix: every fault kind x (plain call, stream) through the whole client
stack against the loopback fault server, OpenAICompatible and real HTTP.

Each case ends in success (through retry or fallback) or in the right typed error,
within its deadline; the server's request count shows what was retried and what was
tried exactly once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import pytest

import llmprod
from llmprod import (
    AllBackendsFailedError,
    Breaker,
    CircuitOpenError,
    OpenAICompatible,
    RateLimitedError,
    Retry,
    StreamInterruptedError,
    Timeout,
)
from llmprod.errors import AuthenticationError, BadRequestError, ConnectError, NotFoundError
from llmprod.testing import Fault, FaultServer, refused_url

Mode = Literal["chat", "stream"]
OK = "ok"
TIMEOUT = Timeout(total=10, attempt=1.0, stream_idle=1.0)
RETRY = Retry(attempts=3, initial=0.01, maximum=0.05)


def backend(url: str, name: str) -> OpenAICompatible:
    return OpenAICompatible(base_url=url, model="m", api_key="sk-test", name=name)


def client(*urls: str, **options: object) -> llmprod.AsyncClient:
    settings: dict[str, object] = {"retry": RETRY, "timeout": TIMEOUT, "telemetry": False, **options}
    return llmprod.AsyncClient([backend(u, f"d{i}") for i, u in enumerate(urls)], **settings)  # type: ignore[arg-type]


async def call(c: llmprod.AsyncClient, mode: Mode, **kwargs: object) -> str:
    if mode == "chat":
        return (await c.chat("hello there", **kwargs)).text
    parts = [chunk.text async for chunk in c.stream("hello there", **kwargs)]
    return "".join(parts)


def cause(exc: BaseException) -> BaseException:
    """The error itself: a one-deployment chain raises it unwrapped."""
    assert not isinstance(exc, AllBackendsFailedError), "a chain of one must not wrap its error"
    return exc


# (fault, chat: expected and requests, stream: expected and requests)
MATRIX: dict[str, tuple[Fault, tuple[object, int], tuple[object, int]]] = {
    "429": (Fault.error(429), (OK, 2), (OK, 2)),
    "429 Retry-After": (Fault.error(429, retry_after=0.1), (OK, 2), (OK, 2)),
    "429 retry-after-ms": (Fault.error(429, retry_after_ms=50), (OK, 2), (OK, 2)),
    "500": (Fault.error(500), (OK, 2), (OK, 2)),
    "502": (Fault.error(502), (OK, 2), (OK, 2)),
    "503": (Fault.error(503), (OK, 2), (OK, 2)),
    "504": (Fault.error(504), (OK, 2), (OK, 2)),
    "529 overloaded": (Fault.error(529, "overloaded"), (OK, 2), (OK, 2)),
    "408": (Fault.error(408), (OK, 2), (OK, 2)),
    "reset before the body": (Fault.reset(), (OK, 2), (OK, 2)),
    "reset mid-body": (Fault.reset(after=3), (OK, 2), (StreamInterruptedError, 1)),
    "read timeout": (Fault.hanging(), (OK, 2), (OK, 2)),
    "malformed JSON": (Fault.garbage(after=0), (OK, 2), (OK, 2)),
    "malformed frame after the first chunk": (
        Fault.garbage(after=2),
        (OK, 2),
        (StreamInterruptedError, 1),
    ),
    "cut before the first chunk": (Fault.cut(after=0), (OK, 2), (OK, 2)),
    "cut after the first chunk": (Fault.cut(after=3), (OK, 2), (StreamInterruptedError, 1)),
    "error event after the first chunk": (Fault.in_stream(after=2), (OK, 1), (StreamInterruptedError, 1)),
    "slow drip": (Fault.slow(0.05, chunk_delay=0.02), (OK, 1), (OK, 1)),
    # the drip starts before the first frame: an idle stream before its first chunk is retried
    "drip past the idle timeout": (Fault.slow(chunk_delay=1.5), (OK, 1), (OK, 2)),
    # idle for longer than stream_idle after chunks reached the caller: no retry, interrupted
    "stall after the first chunk": (Fault.stall(after=3, seconds=1.5), (OK, 1), (StreamInterruptedError, 1)),
    "400": (Fault.error(400, "bad"), (BadRequestError, 1), (BadRequestError, 1)),
    "401": (Fault.error(401), (AuthenticationError, 1), (AuthenticationError, 1)),
    "403": (Fault.error(403), (AuthenticationError, 1), (AuthenticationError, 1)),
    "404": (Fault.error(404), (NotFoundError, 1), (NotFoundError, 1)),
    "422": (Fault.error(422), (BadRequestError, 1), (BadRequestError, 1)),
}


@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.parametrize("kind", list(MATRIX))
async def test_chaos_matrix(fault_server: FaultServer, kind: str, mode: Mode) -> None:
    fault, *expectations = MATRIX[kind]
    expected, requests = expectations[0 if mode == "chat" else 1]
    fault_server.push(fault)
    started = time.monotonic()
    async with client(fault_server.url) as c:
        if expected == OK:
            assert await call(c, mode)
        else:
            assert isinstance(expected, type)
            with pytest.raises(Exception) as raised:
                await call(c, mode)
            assert isinstance(cause(raised.value), expected), repr(raised.value)
            if expected is StreamInterruptedError:
                assert isinstance(raised.value, StreamInterruptedError) and raised.value.partial_text
    assert len(fault_server.requests) == requests
    assert time.monotonic() - started < 8  # nothing hangs


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_connect_refused_is_retried_then_falls_back(fault_server: FaultServer, mode: Mode) -> None:
    async with client(refused_url()) as alone:
        with pytest.raises(ConnectError):
            await call(alone, mode)
    async with client(refused_url(), fault_server.url) as chain:
        assert await call(chain, mode)
    assert len(fault_server.requests) == 1


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_a_failing_primary_falls_back_after_its_retries(mode: Mode) -> None:
    async with FaultServer() as primary, FaultServer() as secondary:
        primary.always(Fault.error(503))
        async with client(primary.url, secondary.url) as c:
            assert await call(c, mode)
        assert len(primary.requests) == RETRY.attempts and len(secondary.requests) == 1


async def test_attempt_log_lists_retries_and_the_fallback() -> None:
    async with FaultServer() as primary, FaultServer() as secondary:
        primary.always(Fault.error(503))
        async with client(primary.url, secondary.url) as c:
            r = await c.chat("hi")
    assert r.attempts == 4 and r.deployment == "d1"
    assert [(a.deployment, a.outcome) for a in r.attempt_log] == [("d0", "error")] * 3 + [("d1", "ok")]


@pytest.mark.parametrize(
    "fault",
    [Fault.error(429, retry_after=0.4), Fault.error(503, retry_after=0.4), Fault.error(429, retry_after_ms=400)],
    ids=["429 Retry-After seconds", "503 Retry-After", "retry-after-ms"],
)
async def test_retry_after_is_honoured(fault_server: FaultServer, fault: Fault) -> None:
    fault_server.push(fault)
    arrivals: list[float] = []
    async with client(fault_server.url) as c:
        c.hooks.append(
            lambda e: arrivals.append(time.monotonic()) if isinstance(e, llmprod.events.AttemptFinished) else None
        )
        assert await call(c, "chat")
    assert len(fault_server.requests) == 2
    # the second attempt finished no earlier than 0.4 s after the first one did
    assert arrivals[1] - arrivals[0] >= 0.4


async def test_retry_after_as_http_date(fault_server: FaultServer) -> None:
    import datetime

    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
    fault_server.push(Fault.error(429, retry_after=when))
    started = time.monotonic()
    async with client(fault_server.url) as c:
        assert await call(c, "chat")
    # an HTTP date has one-second resolution: at least 1 s, at most about 2 s
    assert 0.9 <= time.monotonic() - started < 5


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_deadline_shorter_than_retry_after_gives_up_at_once(fault_server: FaultServer, mode: Mode) -> None:
    fault_server.push(Fault.error(429, retry_after=30))
    started = time.monotonic()
    async with client(fault_server.url) as c:
        with pytest.raises(RateLimitedError) as raised:
            await call(c, mode, timeout=3)
    limited = raised.value
    assert limited.source == "provider" and limited.retry_after == 30
    assert time.monotonic() - started < 1.5 and len(fault_server.requests) == 1


async def test_breaker_under_100_concurrent_calls(fault_server: FaultServer) -> None:
    reset = 0.5
    c = client(
        fault_server.url,
        retry=None,
        breaker=Breaker(fail_max=5, reset_timeout=reset),
        timeout=Timeout(total=30, attempt=15),  # 100 calls at once on a loaded CI machine
    )

    async def burst() -> list[object]:
        return await asyncio.gather(*(c.chat("hi") for _ in range(100)), return_exceptions=True)

    async with c:
        fault_server.always(Fault.error(503))
        first = await burst()
        assert all(isinstance(cause(r), llmprod.errors.ServerError) for r in first)  # type: ignore[arg-type]
        assert len(fault_server.requests) == 100  # all were in flight before it opened
        # open: fails fast, no request reaches the server
        started = time.monotonic()
        fast = await burst()
        assert all(isinstance(cause(r), CircuitOpenError) for r in fast)  # type: ignore[arg-type]
        assert len(fault_server.requests) == 100 and time.monotonic() - started < 2
        # half-open: one probe (held 0.3 s by the server) among 100 calls
        await asyncio.sleep(reset * 1.2)
        fault_server.always(Fault.slow(0.3))
        probing = await burst()
        assert len(fault_server.requests) == 101
        assert sum(isinstance(r, llmprod.ChatResponse) for r in probing) == 1
        assert sum(isinstance(cause(r), CircuitOpenError) for r in probing) == 99  # type: ignore[arg-type]
        # closed again: everything goes through
        fault_server.always(None)
        recovered = await burst()
        assert all(isinstance(r, llmprod.ChatResponse) for r in recovered)
        assert len(fault_server.requests) == 201


async def _server_idle(server: FaultServer) -> bool:
    """Wait (bounded) until the server holds no open connection handler."""
    for _ in range(200):
        if not server._tasks:  # the server's per-connection handler tasks
            return True
        await asyncio.sleep(0.01)
    return False


def _others() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


@pytest.mark.parametrize("hedge", [False, True])
async def test_cancelling_a_call_leaves_no_task_and_no_connection(fault_server: FaultServer, hedge: bool) -> None:
    fault_server.always(Fault.hanging())
    b = backend(fault_server.url, "d0")
    target: object = llmprod.Deployment(replicas=[b], hedge=llmprod.Hedge(delay=0.05, max_extra=1.0)) if hedge else b
    async with llmprod.AsyncClient(target, retry=RETRY, timeout=TIMEOUT, telemetry=False) as c:  # type: ignore[arg-type]
        task = asyncio.create_task(c.chat("hi"))
        while len(fault_server.requests) < (2 if hedge else 1):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _server_idle(fault_server)  # the client closed its connections
        assert _others() == []


async def test_closing_a_stream_early_leaves_no_task_and_no_connection(fault_server: FaultServer) -> None:
    fault_server.always(Fault.slow(chunk_delay=0.2))
    async with client(fault_server.url) as c:
        stream = c.stream("hello there")
        async for chunk in stream:
            assert chunk.text
            break
        await stream.aclose()  # type: ignore[attr-defined]
        assert await _server_idle(fault_server)
        assert _others() == []
