"""The clients end to end over HTTP: AsyncClient and Client -> OpenAICompatible -> the fault server."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import llmprod
from llmprod.testing import Fault, FaultServer


def backend(server: FaultServer) -> llmprod.OpenAICompatible:
    return llmprod.OpenAICompatible(base_url=server.url, model="m")


def async_client(server: FaultServer) -> llmprod.AsyncClient:
    return llmprod.AsyncClient(backend(server), retry=None, breaker=None)


def sync_client(server: FaultServer) -> llmprod.Client:
    return llmprod.Client(backend(server), retry=None, breaker=None)


async def test_chat(fault_server: FaultServer) -> None:
    async with async_client(fault_server) as client:
        r = await client.chat("hello there", max_tokens=4)
    assert len(r.text.split()) == 4 and r.finish_reason == "length"
    assert r.usage.completion_tokens == 4 and r.attempts == 1 and r.latency > 0
    assert fault_server.requests[0].body["max_tokens"] == 4


async def test_stream(fault_server: FaultServer) -> None:
    async with async_client(fault_server) as client:
        chunks = [c async for c in client.stream("hello there")]
    final = chunks[-1].response
    assert final is not None and final.text == "".join(c.text for c in chunks)
    assert final.usage.completion_tokens == 8 and final.ttft is not None


async def test_provider_errors_reach_the_caller(fault_server: FaultServer) -> None:
    fault_server.push(Fault.error(401, "bad key"), Fault.error(503, "overloaded"))
    async with async_client(fault_server) as client:
        with pytest.raises(llmprod.errors.AuthenticationError, match="bad key"):
            await client.chat("hi")
        # With one deployment there is no fallback: its own typed error reaches the caller.
        with pytest.raises(llmprod.errors.ServerError) as raised:
            await client.chat("hi")
    cause = raised.value
    assert cause.status == 503 and "overloaded" in str(cause)
    assert len(fault_server.requests) == 2


async def test_stream_cut_after_chunks_is_interrupted_with_the_partial_text(fault_server: FaultServer) -> None:
    fault_server.push(Fault.cut(after=4))
    received: list[str] = []
    async with async_client(fault_server) as client:
        with pytest.raises(llmprod.StreamInterruptedError) as raised:
            async for chunk in client.stream("hello there"):
                received.append(chunk.text)
    assert received and raised.value.partial_text == "".join(received)


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 10**9}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 2.5}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}], "frobnicate": True}, "frobnicate"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_INPUT, ids=[f for _, f in BAD_INPUT])
async def test_bad_input_is_refused_before_anything_is_sent(
    fault_server: FaultServer, kwargs: dict[str, Any], field: str
) -> None:
    async with async_client(fault_server) as client:
        with pytest.raises(llmprod.InvalidRequestError) as raised:
            await client.chat(**kwargs)
        assert raised.value.field == field
        with pytest.raises(llmprod.InvalidRequestError):
            [c async for c in client.stream(**kwargs)]
    assert fault_server.requests == []


async def test_two_hundred_concurrent_calls_through_one_client(fault_server: FaultServer) -> None:
    async with async_client(fault_server) as client:
        results = await asyncio.gather(*(client.chat(f"call {i}") for i in range(200)))
    assert len(results) == 200 and all(r.finish_reason == "stop" for r in results)
    assert len(fault_server.requests) == 200
    assert fault_server.peak_connections <= 100  # pooled: max_connections open at once


async def test_a_server_that_never_answers_hits_the_deadline(fault_server: FaultServer) -> None:
    fault_server.always(Fault.hanging())
    async with async_client(fault_server) as client:
        started = time.monotonic()
        with pytest.raises(llmprod.DeadlineExceededError):
            await client.chat("hi", timeout=0.5)
        with pytest.raises(llmprod.DeadlineExceededError):
            [c async for c in client.stream("hi", timeout=0.5)]
    assert time.monotonic() - started < 5  # two calls of 0.5 s (+ grace), generous for a loaded CI


def test_sync_client_from_eight_threads_at_once(sync_fault_server: FaultServer) -> None:
    with sync_client(sync_fault_server) as client, ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda i: client.chat(f"thread {i}").text, range(64)))
        streamed = list(pool.map(lambda i: "".join(c.text for c in client.stream(f"thread {i}")), range(16)))
    assert len(texts) == 64 and all(texts)
    assert streamed == texts[:16]
    assert len(sync_fault_server.requests) == 80


async def test_sync_client_inside_a_running_event_loop(sync_fault_server: FaultServer) -> None:
    # A notebook: this coroutine's loop is running in this thread; the sync calls must still work.
    with sync_client(sync_fault_server) as client:
        assert client.chat("from a notebook").finish_reason == "stop"
        assert list(client.stream("from a notebook"))[-1].response is not None
