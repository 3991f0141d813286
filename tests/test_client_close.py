"""Closing a client while calls are in flight, over real sockets (the fault server).

Every call in flight ends promptly with :class:`ClientClosedError` — none is left
blocked until its deadline —, and no aiohttp session or connection is left unclosed,
also when one ``AsyncClient`` is used from two event loops in turn. The calls' own
deadlines are an hour, so a call that ends did so because of the close; the joins and
waits below are safety nets for a broken build, never measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import warnings
from collections.abc import Iterator

import pytest

import llmprod
from llmprod.testing import Fault, FaultServer
from tests.waiting import eventually, eventually_sync

pytest.importorskip("aiohttp")  # the leaks below are aiohttp's session and connector

HOUR = llmprod.Timeout(total=3600, attempt=3600, stream_idle=3600)
SAFETY = 60.0  # a broken close shows as calls still pending after this long


@contextlib.contextmanager
def no_unclosed_resources() -> Iterator[list[str]]:
    """Collects every "unclosed ..." ResourceWarning (aiohttp's session, connector and
    connections, asyncio's transports, sockets) raised until the block ends and garbage
    is collected."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield found
        gc.collect()
    for w in caught:
        text = str(w.message)
        # An event loop left open is not ours: looptime's plugin opens one for every sync test.
        if issubclass(w.category, ResourceWarning) and "event loop" not in text:
            found.append(text)


def backend(server: FaultServer) -> llmprod.OpenAICompatible:
    return llmprod.OpenAICompatible(base_url=server.url, model="m")


def test_close_ends_the_calls_of_eight_threads(sync_fault_server: FaultServer) -> None:
    server = sync_fault_server
    server.push(Fault.hanging(), times=4)  # the four chats: no answer, ever
    server.always(Fault.stall(after=3, seconds=3600))  # the four streams: two words, then nothing
    client = llmprod.Client(backend(server), timeout=HOUR)
    outcomes: dict[int, BaseException | str] = {}
    first_chunks: set[int] = set()

    def chat(i: int) -> None:
        try:
            outcomes[i] = client.chat(f"chat {i}").text
        except BaseException as exc:
            outcomes[i] = exc

    def stream(i: int) -> None:
        try:
            for _ in client.stream(f"stream {i}"):
                first_chunks.add(i)
            outcomes[i] = "ended"
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=chat, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    eventually_sync(lambda: len(server.requests) == 4)
    threads += [threading.Thread(target=stream, args=(i,), daemon=True) for i in range(4, 8)]
    for t in threads[4:]:
        t.start()
    eventually_sync(lambda: len(first_chunks) == 4)  # every stream is past its first chunk

    client.close()
    with contextlib.suppress(AssertionError):
        eventually_sync(lambda: not any(t.is_alive() for t in threads))
    assert [t.is_alive() for t in threads] == [False] * 8
    assert {i: type(o).__name__ for i, o in outcomes.items()} == dict.fromkeys(range(8), "ClientClosedError")
    with pytest.raises(llmprod.errors.ClientClosedError):
        client.chat("after close")


async def test_aclose_ends_the_calls_in_flight_and_leaves_nothing_unclosed(fault_server: FaultServer) -> None:
    fault_server.push(Fault.hanging(), times=4)
    fault_server.always(Fault.stall(after=3, seconds=3600))
    with no_unclosed_resources() as unclosed:
        outcomes = await close_with_eight_calls_in_flight(fault_server)
    assert outcomes == ["ClientClosedError"] * 8
    assert len(fault_server.requests) == 8  # nothing was retried after the close
    assert unclosed == []


async def close_with_eight_calls_in_flight(server: FaultServer) -> list[str]:
    client = llmprod.AsyncClient(backend(server), timeout=HOUR)
    first_chunks: set[int] = set()

    async def chat(i: int) -> str:
        return (await client.chat(f"chat {i}")).text

    async def stream(i: int) -> str:
        async for _ in client.stream(f"stream {i}"):
            first_chunks.add(i)
        return "ended"

    chats = [asyncio.ensure_future(chat(i)) for i in range(4)]
    await eventually(lambda: len(server.requests) == 4)
    streams = [asyncio.ensure_future(stream(i)) for i in range(4, 8)]
    await eventually(lambda: len(first_chunks) == 4)  # every stream is past its first chunk

    await client.aclose()
    _, pending = await asyncio.wait([*chats, *streams], timeout=SAFETY)
    assert not pending
    return [type(t.exception()).__name__ for t in [*chats, *streams]]


def test_one_async_client_from_two_event_loops_in_turn(sync_fault_server: FaultServer) -> None:
    with no_unclosed_resources() as unclosed:
        texts = use_from_two_loops(sync_fault_server)
    assert texts[0] == texts[1]
    assert len(sync_fault_server.requests) == 4
    assert unclosed == []


def use_from_two_loops(server: FaultServer) -> list[str]:
    client = llmprod.AsyncClient(backend(server), retry=None, breaker=None)

    async def use() -> str:
        chat = await client.chat("hello")
        chunks = [c.text async for c in client.stream("hello")]
        assert "".join(chunks) == chat.text
        return chat.text

    texts = [asyncio.run(use()), asyncio.run(use())]  # a new loop: the first loop's pool must not leak
    asyncio.run(client.aclose())
    return texts
