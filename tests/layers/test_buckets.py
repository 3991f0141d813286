"""A caller's request and token buckets are two buckets, not one: each limit holds on its own.

Time is an injected clock (the in-memory buckets take ``clock=``). The Redis store keeps
its buckets apart by name already; it is checked on a real ``redis-server`` too.
"""

from __future__ import annotations

from typing import Any

import pytest

import llmprod
from llmprod.errors import RateLimitedError
from llmprod.layers._buckets import Limit, MemoryBuckets
from llmprod.layers._buckets_redis import RedisBuckets
from llmprod.testing import FakeBackend

REQUESTS = Limit("requests_per_minute", 2, 2 / 60)
TOKENS = Limit("tokens_per_minute", 200_000, 200_000 / 60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_buckets_of_one_key_do_not_share_a_level() -> None:
    clock = Clock()
    buckets = MemoryBuckets(clock=clock)
    admitted = [(await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 50], 0.0)).admitted for _ in range(5)]
    assert admitted == [True, True, False, False, False]
    refused = await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 50], 0.0)
    assert refused.limit == "requests_per_minute" and refused.wait == pytest.approx(30.0)
    clock.now += 30.0  # one request's worth of refill
    assert (await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 50], 0.0)).admitted
    assert not (await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 50], 0.0)).admitted


async def test_giving_back_tokens_leaves_the_request_bucket_alone() -> None:
    buckets = MemoryBuckets(clock=Clock())
    assert (await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 150_000], 0.0)).admitted
    await buckets.give("k", TOKENS, 150_000)  # a cache hit: the tokens come back, the request does not
    assert (await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 150_000], 0.0)).admitted
    assert not (await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 1], 0.0)).admitted


async def test_a_client_enforces_requests_per_minute_with_a_token_limit_set() -> None:
    # The docs' example (docs/layers/ratelimit.md): its third call must be refused. Two
    # requests a minute refill one per 30 s, far longer than these five calls take.
    limit = llmprod.RateLimit(requests_per_minute=2, tokens_per_minute=200_000, per="client", on_limit="reject")
    outcomes: list[str] = []
    async with llmprod.AsyncClient(FakeBackend(lambda r: "ok"), rate_limit=limit, retry=None, breaker=None) as client:
        for i in range(5):
            try:
                await client.chat(f"call {i}")
                outcomes.append("ok")
            except RateLimitedError as exc:
                assert exc.source == "local" and exc.retry_after is not None and 25 < exc.retry_after <= 30
                outcomes.append("limited")
    assert outcomes == ["ok", "ok", "limited", "limited", "limited"]


@pytest.mark.redis
async def test_redis_buckets_of_one_key_do_not_share_a_level(redis_server: Any) -> None:
    buckets = RedisBuckets(redis_server.url, prefix="test:rl")
    try:
        admitted = [(await buckets.take(["k", "k"], [REQUESTS, TOKENS], [1, 50], 0.0)).admitted for _ in range(4)]
    finally:
        await buckets.aclose()
    assert admitted == [True, True, False, False]
