"""Rate limits: exact under concurrency, in memory and in a real Redis; wait vs reject."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

import llmprod
from llmprod.layers._buckets import Limit, MemoryBuckets, plan
from llmprod.layers._estimate import prompt_tokens
from llmprod.testing import FakeBackend
from tests.fixtures_secrets import TENANT_KEY_A, TENANT_KEY_B


def _client(limit: llmprod.RateLimit, backend: Any = None, **options: Any) -> tuple[llmprod.AsyncClient, list[Any]]:
    events: list[Any] = []
    client = llmprod.AsyncClient(
        backend or FakeBackend(lambda r: "ok"),
        rate_limit=limit,
        retry=None,
        breaker=None,
        telemetry=False,
        hooks=[events.append],
        **options,
    )
    return client, events


async def _admitted(client: llmprod.AsyncClient, n: int, **kwargs: Any) -> tuple[int, list[BaseException]]:
    results = await asyncio.gather(*(client.chat(f"q{i}", **kwargs) for i in range(n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    return n - len(errors), errors


def test_plan_is_all_or_nothing_and_names_the_binding_limit() -> None:
    limits = [Limit("requests_per_minute", 10, 1.0), Limit("tokens_per_minute", 100, 10.0)]
    assert plan([5, 100], limits, [1, 50], 0.0) == (True, 0.0, None)
    taken = plan([5, 20], limits, [1, 50], 0.0)
    assert not taken.admitted and taken.limit == "tokens_per_minute" and taken.wait == pytest.approx(3.0)
    assert plan([5, 20], limits, [1, 50], 3.0).admitted


async def test_memory_buckets_refill_with_the_clock() -> None:
    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    limit = Limit("requests_per_minute", 2, 1.0)
    assert (await buckets.take(["k"], [limit], [1], 0.0)).admitted
    assert (await buckets.take(["k"], [limit], [1], 0.0)).admitted
    refused = await buckets.take(["k"], [limit], [1], 0.0)
    assert not refused.admitted and refused.wait == pytest.approx(1.0)
    now[0] = 1.0
    assert (await buckets.take(["k"], [limit], [1], 0.0)).admitted
    assert (await buckets.take(["other"], [limit], [1], 0.0)).admitted  # keys are independent


async def test_requests_per_minute_is_exact_under_concurrency() -> None:
    client, events = _client(llmprod.RateLimit(requests_per_minute=10, on_limit="reject", per="client"))
    admitted, errors = await _admitted(client, 50)
    assert admitted == 10
    assert all(isinstance(e, llmprod.RateLimitedError) and e.source == "local" for e in errors)
    assert all(e.retry_after is not None and 0 < e.retry_after <= 6.5 for e in errors)  # type: ignore[attr-defined]
    hits = [e for e in events if isinstance(e, llmprod.events.RateLimitHit)]
    assert len(hits) == 40 and all(h.rejected and h.limit == "requests_per_minute" for h in hits)


async def test_tokens_per_minute_reserves_prompt_plus_max_tokens_then_settles_to_usage() -> None:
    gate = asyncio.Event()

    async def held(request: llmprod.backends.ChatRequest) -> str:
        await gate.wait()
        return "ok"

    client, _ = _client(llmprod.RateLimit(tokens_per_minute=1000, on_limit="reject", per="client"), FakeBackend(held))
    reserved = prompt_tokens(llmprod.backends.ChatRequest(messages=(llmprod.Message("user", "q0"),))).tokens + 200
    calls = [asyncio.ensure_future(client.chat(f"q{i}", max_tokens=200)) for i in range(10)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    ok = [r for r in results if isinstance(r, llmprod.ChatResponse)]
    assert len(ok) == 1000 // reserved
    # The real usage (a couple of tokens each) was settled: the bucket is nearly full again.
    admitted, _ = await _admitted(client, 4, max_tokens=200)
    assert admitted == 1000 // reserved


async def test_a_call_larger_than_the_token_limit_is_refused_clearly() -> None:
    client, _ = _client(llmprod.RateLimit(tokens_per_minute=100))
    with pytest.raises(llmprod.RateLimitedError, match="more than tokens_per_minute allows") as caught:
        await client.chat("hi", max_tokens=500)
    assert caught.value.retry_after is None


async def test_wait_mode_waits_for_capacity() -> None:
    client, events = _client(llmprod.RateLimit(requests_per_minute=120, per="client"))  # refills 2 a second
    admitted, _ = await _admitted(client, 120)
    assert admitted == 120
    started = time.monotonic()
    await client.chat("one more")
    waited = time.monotonic() - started
    assert 0.35 <= waited < 3.0
    hit = [e for e in events if isinstance(e, llmprod.events.RateLimitHit)][-1]
    assert not hit.rejected and hit.waited == pytest.approx(0.5, abs=0.1)


async def test_wait_mode_never_waits_past_the_deadline() -> None:
    client, _ = _client(llmprod.RateLimit(requests_per_minute=6, per="client"))  # one every 10 s
    assert (await _admitted(client, 6))[0] == 6
    started = time.monotonic()
    with pytest.raises(llmprod.RateLimitedError, match="deadline") as caught:
        await client.chat("late", timeout=1.0)
    assert time.monotonic() - started < 0.5  # refused at once, not after sleeping
    assert caught.value.retry_after == pytest.approx(10.0, abs=0.5)


async def test_reject_mode_raises_at_once_with_retry_after() -> None:
    client, _ = _client(llmprod.RateLimit(requests_per_minute=6, on_limit="reject", per="client"))
    assert (await _admitted(client, 6))[0] == 6
    with pytest.raises(llmprod.RateLimitedError) as caught:
        await client.chat("x")
    assert caught.value.source == "local" and caught.value.retry_after == pytest.approx(10.0, abs=0.5)
    assert not caught.value.retryable  # our own limit: the retry layer must not spin on it


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    client, _ = _client(llmprod.RateLimit(requests_per_minute=2, per="client"))  # one every 30 s
    assert (await _admitted(client, 2))[0] == 2
    waiter = asyncio.ensure_future(client.chat("queued", timeout=60))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    with pytest.raises(llmprod.RateLimitedError) as caught:  # the queue is empty again: ~30 s, not ~60 s
        await client.chat("x", timeout=1)
    assert caught.value.retry_after == pytest.approx(30.0, abs=1.0)


async def test_each_api_key_and_tenant_has_its_own_bucket() -> None:
    client, _ = _client(llmprod.RateLimit(requests_per_minute=3, on_limit="reject"))
    assert (await _admitted(client, 5, api_key=TENANT_KEY_A))[0] == 3
    assert (await _admitted(client, 5, api_key=TENANT_KEY_B))[0] == 3
    assert (await _admitted(client, 5))[0] == 3  # callers without a key share one bucket
    client, _ = _client(llmprod.RateLimit(requests_per_minute=2, on_limit="reject", per="tenant"))
    assert (await _admitted(client, 4, tenant="a"))[0] == 2
    assert (await _admitted(client, 4, tenant="b"))[0] == 2


def test_rate_limit_config_is_validated() -> None:
    with pytest.raises(llmprod.ConfigError, match=r"rate_limit\.per"):
        llmprod.RateLimit(requests_per_minute=1, per="user")  # type: ignore[arg-type]
    with pytest.raises(llmprod.ConfigError, match=r"rate_limit\.requests_per_minute"):
        llmprod.RateLimit(requests_per_minute=0)


async def test_redis_limit_is_shared_by_two_clients_exactly(redis_server: Any) -> None:
    limit = llmprod.RateLimit(requests_per_minute=10, on_limit="reject", redis_url=redis_server.url)
    one, _ = _client(limit)
    two, _ = _client(limit)
    results = await asyncio.gather(
        *(c.chat(f"q{i}", api_key=TENANT_KEY_A) for i in range(20) for c in (one, two)), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, llmprod.ChatResponse)]
    refused = [r for r in results if isinstance(r, llmprod.RateLimitedError)]
    assert len(ok) == 10 and len(refused) == 30
    assert all(r.retry_after is not None and r.retry_after > 0 for r in refused)
    await one.aclose()
    await two.aclose()


async def test_redis_keys_hold_no_api_key_and_tokens_settle(redis_server: Any) -> None:
    import redis.asyncio as aioredis

    limit = llmprod.RateLimit(tokens_per_minute=1000, on_limit="reject", redis_url=redis_server.url)
    client, _ = _client(limit)
    for i in range(8):  # 8 x ~200 reserved would overflow 1000 without the settlement to real usage
        await client.chat(f"q{i}", max_tokens=200, api_key=TENANT_KEY_A)
    store = aioredis.Redis.from_url(redis_server.url)
    keys = [k.decode() for k in await store.keys("*")]
    assert keys and all(TENANT_KEY_A not in k for k in keys)
    assert all(k.startswith("llmprod:rl:{key:") for k in keys)
    await store.aclose()
    await client.aclose()


async def test_redis_down_falls_back_to_local_limits(redis_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    limit = llmprod.RateLimit(requests_per_minute=2, on_limit="reject", redis_url=redis_server.url)
    client, _ = _client(limit)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="llmprod"):
        admitted, _ = await _admitted(client, 4)
    assert admitted == 2
    assert "rate-limit store unreachable" in caplog.text and redis_server.url not in caplog.text
    await client.aclose()
