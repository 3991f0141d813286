"""The cache on a real ``redis-server`` (the ``redis_server`` fixture): shared entries,
versioned JSON, TTL in Redis, and a Redis that dies or hangs costing a miss, never a call."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import llmprod
from llmprod import ChatResponse, Usage
from llmprod._core.request import build_request
from llmprod.backends import ChatRequest
from llmprod.events import CacheLookup
from llmprod.layers import as_layer
from llmprod.testing import FakeBackend
from tests.fixtures_redis import RedisServer

redis_asyncio = pytest.importorskip("redis.asyncio")

from llmprod.layers._cache_redis import RedisStore  # noqa: E402
from llmprod.layers.cache import CacheLayer  # noqa: E402

pytestmark = pytest.mark.redis


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def answer(text: str = "4") -> ChatResponse:
    return ChatResponse(id="r1", text=text, finish_reason="stop", usage=Usage(10, 5), model="m", cost=0.002)


def request(prompt: str = "What is 2 + 2?", **kwargs: Any) -> ChatRequest:
    return build_request(prompt, **kwargs)


def client(backend: Any, url: str, hooks: list[Any] | None = None, **config: Any) -> llmprod.AsyncClient:
    sink = hooks if hooks is not None else []
    cache = llmprod.Cache(redis_url=url, **config)
    return llmprod.AsyncClient(backend, cache=cache, retry=None, breaker=None, hooks=[sink.append], telemetry=False)


def outcomes(events: list[Any]) -> list[str]:
    return [e.outcome for e in events if isinstance(e, CacheLookup)]


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Any]:
    """A plain redis client, to look at what the cache wrote."""
    connection = redis_asyncio.Redis.from_url(redis_server.url)
    try:
        yield connection
    finally:
        await connection.aclose()


def test_fixture_kills_pauses_and_restarts(redis_server: RedisServer) -> None:
    import socket

    def ping() -> bytes:
        with socket.create_connection(("127.0.0.1", redis_server.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16)

    assert ping().startswith(b"+PONG") and redis_server.url.endswith(f":{redis_server.port}/0")
    redis_server.pause()
    with pytest.raises(OSError):  # accepted by the kernel, never answered
        ping()
    redis_server.resume()
    assert ping().startswith(b"+PONG")
    redis_server.kill()
    with pytest.raises(OSError):
        ping()
    redis_server.restart()
    assert ping().startswith(b"+PONG")


async def test_two_clients_share_entries_through_redis(redis_server: RedisServer) -> None:
    first_backend = FakeBackend(lambda r: answer("4"))
    second_backend = FakeBackend(lambda r: answer("never asked"))
    events: list[Any] = []
    async with client(first_backend, redis_server.url) as first:
        original = await first.chat("What is 2 + 2?")
    async with client(second_backend, redis_server.url, events) as second:
        shared = await second.chat("What is 2 + 2?")
        other_tenant = await second.chat("What is 2 + 2?", tenant="someone-else")
    assert not original.cached
    assert shared.cached and shared.text == "4" and shared.usage == Usage(10, 5)
    assert not second_backend.requests[:-1]  # only the other tenant's call went upstream
    assert not other_tenant.cached and other_tenant.text == "never asked"
    assert outcomes(events) == ["hit", "miss"]


async def test_entries_are_versioned_json_with_a_redis_ttl(redis_server: RedisServer, raw: Any) -> None:
    backend = FakeBackend(lambda r: answer())
    async with client(backend, redis_server.url, ttl=60, stale_ttl=240) as c:
        await c.chat("a secret question", tenant="acme")
    keys = await raw.keys("*")
    assert len(keys) == 1
    key = keys[0].decode()
    assert key.startswith("llmprod:v1:") and "secret" not in key and "acme" not in key
    doc = json.loads(await raw.get(key))
    assert doc["v"] == 1 and doc["response"]["text"] == "4"
    ttl_ms = await raw.pttl(key)
    assert 290_000 < ttl_ms <= 300_000  # ttl + stale grace


async def test_another_version_or_garbage_is_a_miss_not_a_failure(
    redis_server: RedisServer, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    backend = FakeBackend(lambda r: answer())
    events: list[Any] = []
    async with client(backend, redis_server.url, events) as c:
        await c.chat("q")
        (key,) = await raw.keys("*")
        doc = json.loads(await raw.get(key))
        await raw.set(key, json.dumps({**doc, "v": 2}))
        assert not (await c.chat("q")).cached  # a newer writer's format: ignored, then overwritten
        assert (await c.chat("q")).cached
        await raw.set(key, b"\x80garbage")
        assert (await c.chat("q")).text == "4"
    assert outcomes(events) == ["miss", "miss", "hit", "error"]
    assert "undecodable" in caplog.text


async def test_stale_entry_in_redis_answers_when_the_backends_fail(redis_server: RedisServer) -> None:
    healthy = True
    backend = FakeBackend(lambda r: answer() if healthy else llmprod.errors.ServerError("down", status=503))
    clock = Clock()
    config = llmprod.Cache(redis_url=redis_server.url, ttl=10, stale_ttl=100)
    cache = CacheLayer(as_layer(backend), config, [].append, clock=clock)
    try:
        await cache.complete(request())
        healthy = False
        clock.now += 50
        stale = await cache.complete(request())
    finally:
        await cache.aclose()
    assert stale.stale and stale.cached and stale.text == "4"


class CountingStore(RedisStore):
    """Counts lookups that have come back from Redis."""

    gets = 0

    async def get(self, key: str) -> Any:
        try:
            return await super().get(key)
        finally:
            self.gets += 1


async def test_identical_concurrent_requests_coalesce_over_redis(redis_server: RedisServer) -> None:
    gate = asyncio.Event()

    async def slow(r: ChatRequest) -> ChatResponse:
        await gate.wait()
        return answer()

    backend = FakeBackend(slow)
    store = CountingStore(redis_server.url)
    cache = CacheLayer(as_layer(backend), llmprod.Cache(redis_url=redis_server.url), [].append, store=store)
    try:
        tasks = [asyncio.create_task(cache.complete(request())) for _ in range(20)]
        async with asyncio.timeout(10):
            while store.gets < 20:  # each caller leads or joins as soon as its lookup is back
                await asyncio.sleep(0.005)
        gate.set()
        results = await asyncio.gather(*tasks)
    finally:
        await cache.aclose()
    assert len(backend.requests) == 1
    assert sum(r.cached for r in results) == 19


async def test_redis_killed_mid_run_calls_still_succeed_quickly(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llmprod")
    backend = FakeBackend(lambda r: answer(r.prompt_text()))
    events: list[Any] = []
    async with client(backend, redis_server.url, events) as c:
        await c.chat("warm")
        assert (await c.chat("warm")).cached
        redis_server.kill()
        started = time.monotonic()
        answers = [await c.chat(f"question {i}") for i in range(10)]
        elapsed = time.monotonic() - started
    assert [a.text for a in answers] == [f"question {i}" for i in range(10)]
    assert elapsed < 5.0  # generous: connection refused is immediate, then the store backs off
    assert "error" in outcomes(events)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cache" in r.getMessage()]
    assert 1 <= len(warnings) <= 5  # once per back-off window, not once per call
    assert "127.0.0.1" not in caplog.text  # no URL (it may hold a password) in the log


async def test_the_cache_comes_back_when_redis_does(redis_server: RedisServer) -> None:
    backend = FakeBackend(lambda r: answer())
    store = RedisStore(redis_server.url, timeout=0.2, backoff=0.05)
    cache = CacheLayer(as_layer(backend), llmprod.Cache(redis_url=redis_server.url), [].append, store=store)
    try:
        await cache.complete(request())
        redis_server.kill()
        assert not (await cache.complete(request())).cached
        redis_server.restart()  # empty: no persistence
        cached = False
        for _ in range(100):  # the store retries Redis once its 50 ms back-off has passed
            await asyncio.sleep(0.05)
            await cache.complete(request())
            if (await cache.complete(request())).cached:
                cached = True
                break
    finally:
        await cache.aclose()
    assert cached


async def test_a_hanging_redis_costs_at_most_its_timeout(redis_server: RedisServer) -> None:
    backend = FakeBackend(lambda r: answer())
    events: list[Any] = []
    async with client(backend, redis_server.url, events, redis_timeout=0.2) as c:
        await c.chat("q")
        redis_server.pause()
        try:
            started = time.monotonic()
            results = [await c.chat(f"q{i}") for i in range(5)]
            elapsed = time.monotonic() - started
        finally:
            redis_server.resume()
    assert all(r.text == "4" for r in results)
    assert elapsed < 3.0  # one 0.2 s timeout, then the store stays away for its back-off
    assert outcomes(events) == ["miss"] + ["error"] * 5  # one event a call, a miss each
