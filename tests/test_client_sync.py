"""The sync client: a plain script, many threads, and inside a running event loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import llmprod
from llmprod.testing import FakeBackend

FAST = llmprod.backends.Latency(median=0.005, p99=0.01)


@pytest.fixture
def client() -> llmprod.Client:
    c = llmprod.Client(llmprod.Simulated(latency=FAST), retry=None, breaker=None)
    yield c
    c.close()


def test_chat_and_stream(client: llmprod.Client) -> None:
    r = client.chat("hello", max_tokens=4)
    chunks = list(client.stream("hello", max_tokens=4))
    assert "".join(c.text for c in chunks) == r.text
    assert chunks[-1].response is not None


def test_bad_input_raises_at_the_call_for_streams_too(client: llmprod.Client) -> None:
    with pytest.raises(llmprod.InvalidRequestError):
        client.stream(messages=[])
    with pytest.raises(llmprod.InvalidRequestError):
        client.chat("x", temperature=9)


def test_eight_threads_at_once(client: llmprod.Client) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: client.chat(f"t{i}").text, range(64)))
    assert len(results) == 64 and all(results)


def test_inside_a_running_event_loop(client: llmprod.Client) -> None:
    async def notebook_cell() -> str:
        # A notebook's loop is running in this thread; the sync call must still work.
        return client.chat("from a notebook").text

    assert asyncio.run(notebook_cell())


def test_breaking_out_of_a_stream_closes_it(client: llmprod.Client) -> None:
    for _chunk in client.stream("hello", max_tokens=20):
        break
    assert client.chat("still usable").text


def test_close_stops_the_loop_thread() -> None:
    before = {t.name for t in threading.enumerate()}
    with llmprod.Client(llmprod.Simulated(latency=FAST), retry=None, breaker=None) as c:
        c.chat("x")
    after = [t for t in threading.enumerate() if t.name == "llmprod-loop" and t.name not in before]
    assert after == []
    with pytest.raises(RuntimeError):
        c.chat("closed")


def test_an_unclosed_client_is_closed_when_collected() -> None:
    import gc

    c = llmprod.Client(llmprod.Simulated(latency=FAST), retry=None, breaker=None)
    c.chat("x")
    runner = c._runner
    del c
    gc.collect()
    assert not runner.running


def test_a_sync_stream_hands_over_chunks_without_a_round_trip_per_chunk() -> None:
    with llmprod.Client(FakeBackend(lambda r: " ".join(["word"] * 40)), retry=None, breaker=None) as client:
        loop = client._runner.loop
        scheduled = 0
        original = loop.call_soon_threadsafe

        def counting(*args: object, **kwargs: object) -> object:
            nonlocal scheduled
            scheduled += 1
            return original(*args, **kwargs)  # type: ignore[arg-type]

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        try:
            chunks = list(client.stream("talk"))
        finally:
            loop.call_soon_threadsafe = original  # type: ignore[method-assign]
    assert len(chunks) == 41  # 40 words and the final chunk
    assert scheduled == 1  # the stream was started once; no call per chunk crossed the threads
