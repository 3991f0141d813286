"""The cache layer: keys, hits, bounds, tenants, single flight, streams, stale-if-error.

Layer tests drive ``CacheLayer`` over ``llmprod.testing.FakeBackend`` with an injected
clock (no sleeping through TTLs); client tests go through ``llmprod.AsyncClient``.
The loopback-server test (50 callers, one HTTP request) needs ``llmprod.OpenAICompatible``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

import llmprod
from llmprod import CacheControl, ChatChunk, ChatResponse, Usage
from llmprod._core.errors import backends_failed
from llmprod._core.request import build_request
from llmprod.backends import ChatRequest
from llmprod.events import CacheLookup
from llmprod.layers import as_layer
from llmprod.layers._cache_entry import (
    cache_key,
    decode,
    encode,
    is_deterministic,
    new_entry,
)
from llmprod.layers.cache import CacheLayer, MemoryStore
from llmprod.testing import FakeBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def request(prompt: str = "What is 2 + 2?", **kwargs: Any) -> ChatRequest:
    return build_request(prompt, **kwargs)


def answer(text: str = "4", *, cost: float | None = 0.002, finish_reason: str = "stop", **kwargs: Any) -> ChatResponse:
    usage = Usage(10, 5)
    return ChatResponse(
        id="r1", text=text, finish_reason=finish_reason, usage=usage, model="m", deployment="d", cost=cost, **kwargs
    )


def layer(
    backend: Any, *, clock: Callable[[], float] | None = None, events: list[Any] | None = None, **config: Any
) -> CacheLayer:
    sink = events if events is not None else []
    return CacheLayer(as_layer(backend), llmprod.Cache(**config), sink.append, clock=clock or Clock())


def outcomes(events: list[Any]) -> list[str]:
    return [e.outcome for e in events if isinstance(e, CacheLookup)]


# -- the pure parts --------------------------------------------------------------------


def test_key_ignores_what_cannot_change_the_answer() -> None:
    base = request(tenant="acme")
    same = [
        request(tenant="acme", tags={"team": "x"}, slo="fast", user="u-1"),
        request(tenant="acme", cache=CacheControl(ttl=5)),
        replace(base, metadata=replace(base.metadata, region="eu")),
    ]
    assert {cache_key(r, "ns") for r in same} == {cache_key(base, "ns")}
    assert cache_key(request(temperature=0), "ns") == cache_key(request(temperature=0.0), "ns")


@pytest.mark.parametrize(
    "changed",
    [
        {"model": "other"},
        {"max_tokens": 7},
        {"temperature": 0.0},
        {"top_p": 0.5},
        {"stop": ["\n"]},
        {"seed": 1},
        {"extra_body": {"top_k": 3}},
        {"system": "be brief"},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_key_changes_with_every_output_parameter(changed: dict[str, Any]) -> None:
    assert cache_key(request(**changed), "ns") != cache_key(request(), "ns")


def test_key_holds_no_prompt_tenant_or_api_key() -> None:
    key = cache_key(request("secret prompt about jo@example.com", tenant="acme-corp", api_key="sk-live-123"), "ns")
    assert key.startswith("ns:v1:")
    for raw in ("secret", "jo@example.com", "acme", "sk-live"):
        assert raw not in key


def test_tenants_and_api_keys_get_separate_namespaces() -> None:
    keys = {
        cache_key(request(), "ns"),
        cache_key(request(tenant="a"), "ns"),
        cache_key(request(tenant="b"), "ns"),
        cache_key(request(tenant="a", api_key="k1"), "ns"),
        cache_key(request(tenant="a", api_key="k2"), "ns"),
    }
    assert len(keys) == 5


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, True),
        ({"temperature": 0}, True),
        ({"temperature": 0.7}, False),
        ({"temperature": 0.7, "seed": 42}, True),
    ],
)
def test_determinism_rule(kwargs: dict[str, Any], expected: bool) -> None:
    assert is_deterministic(request(**kwargs)) is expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (llmprod.errors.ServerError("503", status=503), True),
        (llmprod.errors.ProviderTimeoutError("slow"), True),
        (llmprod.errors.ProviderConnectionError("reset"), True),
        (llmprod.CircuitOpenError("d"), True),
        (llmprod.AllBackendsFailedError([llmprod.errors.ServerError("x")]), True),
        (llmprod.DeadlineExceededError("late"), True),
        (llmprod.RateLimitedError("429", source="provider"), True),
        (llmprod.RateLimitedError("local", source="local"), False),
        (llmprod.InvalidRequestError("bad"), False),
        (llmprod.errors.BadRequestError("400", status=400), False),
        (llmprod.errors.AuthenticationError("401", status=401), True),
        (llmprod.BudgetExceededError("over", budget="b", limit=1, spent=1), False),
        (llmprod.InputRejectedError("injection"), False),
    ],
)
def test_only_backend_failures_serve_stale(error: Exception, expected: bool) -> None:
    assert backends_failed(error) is expected


def test_entry_round_trips_through_versioned_json() -> None:
    response = answer(tool_calls=({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},))
    entry = new_entry(replace(response, latency=1.5, attempts=3), now=100.0, ttl=10.0, stale_ttl=50.0)
    data = encode(entry)
    doc = json.loads(data)
    assert doc["v"] == 1 and doc["fresh_until"] == 110.0 and doc["stale_until"] == 160.0
    back = decode(data)
    assert back is not None and back.size == len(data) == entry.size
    assert back.response == replace(response, tool_calls=back.response.tool_calls)
    assert back.response.tool_calls == response.tool_calls
    assert back.response.latency == 0.0 and back.response.attempts == 1  # per-call fields are not kept
    assert decode(json.dumps({**doc, "v": 99}).encode()) is None
    with pytest.raises(ValueError):
        decode(b"\x80not json")


# -- hits, misses, expiry, bounds ------------------------------------------------------


async def test_second_identical_request_is_a_hit() -> None:
    backend = FakeBackend(lambda r: answer())
    events: list[Any] = []
    cache = layer(backend, events=events)
    first = await cache.complete(request())
    second = await cache.complete(request())
    assert len(backend.requests) == 1
    assert not first.cached and second.cached and not second.stale
    assert second.text == first.text == "4"
    assert outcomes(events) == ["miss", "hit"]
    hit = events[-1]
    assert hit.saved_cost == 0.002 and hit.saved_tokens == 15


async def test_entry_expires_after_its_ttl() -> None:
    backend = FakeBackend(lambda r: answer())
    clock = Clock()
    cache = layer(backend, clock=clock, ttl=60, stale_ttl=0)
    await cache.complete(request())
    clock.now += 59
    assert (await cache.complete(request())).cached
    clock.now += 2
    assert not (await cache.complete(request())).cached
    assert len(backend.requests) == 2


async def test_per_request_controls() -> None:
    backend = FakeBackend(lambda r: answer())
    clock = Clock()
    cache = layer(backend, clock=clock, ttl=60, stale_ttl=0)
    await cache.complete(request(cache=CacheControl(store=False)))
    await cache.complete(request())  # nothing was stored: a miss that stores
    fresh = await cache.complete(request(cache=CacheControl(lookup=False)))
    assert not fresh.cached
    assert len(backend.requests) == 3
    await cache.complete(request("short-lived", cache=CacheControl(ttl=5)))
    clock.now += 10
    assert not (await cache.complete(request("short-lived"))).cached  # its own ttl, not the 60 s default
    assert (await cache.complete(request())).cached


async def test_lru_evicts_the_least_recently_used_entry() -> None:
    backend = FakeBackend(lambda r: answer(r.prompt_text()))
    cache = layer(backend, max_entries=3)
    for prompt in ("a", "b", "c"):
        await cache.complete(request(prompt))
    await cache.complete(request("a"))  # a is now the most recent
    await cache.complete(request("d"))  # evicts b
    assert cache.usage() is not None and cache.usage()[0] == 3  # type: ignore[index]
    calls = len(backend.requests)
    assert (await cache.complete(request("a"))).cached
    assert (await cache.complete(request("c"))).cached
    assert not (await cache.complete(request("b"))).cached
    assert len(backend.requests) == calls + 1


async def test_byte_bound_holds_and_oversized_answers_are_not_stored() -> None:
    backend = FakeBackend(lambda r: answer(r.prompt_text() * 40))
    one = new_entry(answer("x" * 40), now=0, ttl=1, stale_ttl=0).size
    cache = layer(backend, max_bytes=one * 3)
    for prompt in "abcdefgh":
        await cache.complete(request(prompt))
    entries, size = cache.usage() or (0, 0)
    assert 1 <= entries <= 3 and size <= one * 3
    assert (await cache.complete(request("h"))).cached
    await cache.complete(request("z" * 2000))  # larger than the whole bound
    assert not (await cache.complete(request("z" * 2000))).cached


async def test_nondeterministic_requests_are_not_cached_unless_configured() -> None:
    backend = FakeBackend(lambda r: answer())
    cache = layer(backend)
    for _ in range(2):
        await cache.complete(request(temperature=0.9))
    assert len(backend.requests) == 2
    await cache.complete(request(temperature=0.9, seed=7))
    assert (await cache.complete(request(temperature=0.9, seed=7))).cached
    permissive = layer(backend, cache_nondeterministic=True)
    await permissive.complete(request(temperature=0.9))
    assert (await permissive.complete(request(temperature=0.9))).cached


async def test_tenants_never_read_each_others_entries() -> None:
    backend = FakeBackend(lambda r: answer(f"for {r.metadata.tenant}"))
    cache = layer(backend)
    a = await cache.complete(request(tenant="a"))
    b = await cache.complete(request(tenant="b"))
    assert not b.cached and b.text == "for b"
    assert (await cache.complete(request(tenant="a"))).text == a.text == "for a"
    other_key = await cache.complete(request(tenant="a", api_key="sk-other"))
    assert not other_key.cached
    assert len(backend.requests) == 3


async def test_errors_and_filtered_answers_are_never_stored() -> None:
    replies: list[Any] = [
        llmprod.errors.ServerError("boom", status=503),
        answer(finish_reason="content_filter"),
        answer(flagged=("output_guard",)),
        answer(),
    ]
    backend = FakeBackend(lambda r: replies[min(len(backend.requests), len(replies)) - 1])
    cache = layer(backend)
    with pytest.raises(llmprod.errors.ServerError):
        await cache.complete(request())
    assert not (await cache.complete(request())).cached  # content_filter
    assert not (await cache.complete(request())).cached  # flagged
    assert not (await cache.complete(request())).cached  # the first clean answer
    assert (await cache.complete(request())).cached
    assert len(backend.requests) == 4


# -- single flight ---------------------------------------------------------------------


async def settle(condition: Callable[[], bool]) -> None:
    """Let every ready task run until ``condition`` holds (asyncio runs tasks in order)."""
    for _ in range(10_000):
        if condition():
            break
        await asyncio.sleep(0)
    assert condition()
    for _ in range(50):  # the other callers are at most a few steps behind the first
        await asyncio.sleep(0)


async def test_fifty_identical_concurrent_requests_make_one_upstream_call() -> None:
    gate = asyncio.Event()

    async def slow(r: ChatRequest) -> ChatResponse:
        await gate.wait()
        return answer()

    backend = FakeBackend(slow)
    events: list[Any] = []
    cache = layer(backend, events=events)
    tasks = [asyncio.create_task(cache.complete(request())) for _ in range(50)]
    await settle(lambda: len(backend.requests) == 1)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert len(backend.requests) == 1
    assert {r.text for r in results} == {"4"}
    assert sum(not r.cached for r in results) == 1  # the leader's own answer
    assert sorted(outcomes(events)) == ["coalesced"] * 49 + ["miss"]


async def test_every_coalesced_caller_gets_the_error_and_nothing_is_stored() -> None:
    gate = asyncio.Event()

    async def failing(r: ChatRequest) -> ChatResponse | Exception:
        if len(backend.requests) == 1:
            await gate.wait()
            return llmprod.errors.BadRequestError("refused", status=400)
        return answer()

    backend = FakeBackend(failing)
    cache = layer(backend)
    tasks = [asyncio.create_task(cache.complete(request())) for _ in range(5)]
    await settle(lambda: len(backend.requests) == 1)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, llmprod.errors.BadRequestError) for r in results)
    assert not (await cache.complete(request())).cached
    assert len(backend.requests) == 2


async def test_a_caller_that_cancels_does_not_cancel_the_others() -> None:
    gate = asyncio.Event()

    async def slow(r: ChatRequest) -> ChatResponse:
        await gate.wait()
        return answer()

    backend = FakeBackend(slow)
    cache = layer(backend)
    leader = asyncio.create_task(cache.complete(request()))
    await settle(lambda: len(backend.requests) == 1)
    followers = [asyncio.create_task(cache.complete(request())) for _ in range(3)]
    await settle(lambda: True)
    leader.cancel()
    followers[0].cancel()
    await asyncio.gather(leader, followers[0], return_exceptions=True)
    assert leader.cancelled() and followers[0].cancelled()
    gate.set()
    rest = await asyncio.gather(*followers[1:])
    assert [r.text for r in rest] == ["4", "4"]
    assert (await cache.complete(request())).cached  # the shared call finished and stored its answer
    assert len(backend.requests) == 1


# -- stale-if-error --------------------------------------------------------------------


async def test_stale_entry_answers_when_the_backends_fail() -> None:
    healthy = True
    backend = FakeBackend(lambda r: answer() if healthy else llmprod.errors.ServerError("down", status=503))
    clock = Clock()
    events: list[Any] = []
    cache = layer(backend, clock=clock, events=events, ttl=10, stale_ttl=100)
    await cache.complete(request())
    healthy = False
    clock.now += 50
    stale = await cache.complete(request())
    assert stale.stale and stale.cached and stale.text == "4"
    assert outcomes(events)[-1] == "stale" and events[-1].saved_cost == 0.002
    chunks = [c async for c in cache.stream(request())]
    assert chunks[-1].response is not None and chunks[-1].response.stale
    clock.now += 100  # past the grace period
    with pytest.raises(llmprod.errors.ServerError):
        await cache.complete(request())


async def test_caller_errors_are_never_hidden_by_a_stale_entry() -> None:
    error: Exception | None = None
    backend = FakeBackend(lambda r: error or answer())
    clock = Clock()
    cache = layer(backend, clock=clock, ttl=10, stale_ttl=100)
    await cache.complete(request())
    clock.now += 20
    for error in (
        llmprod.BudgetExceededError("over", budget="b", limit=1, spent=1),
        llmprod.errors.BadRequestError("bad", status=400),
    ):
        with pytest.raises(type(error)):
            await cache.complete(request())


# -- streams ---------------------------------------------------------------------------


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


async def test_a_completed_stream_fills_the_cache_and_a_hit_replays_as_a_stream() -> None:
    backend = FakeBackend(lambda r: answer("two plus two is four"))
    events: list[Any] = []
    cache = layer(backend, events=events)
    live = await collect(cache.stream(request()))
    replayed = await collect(cache.stream(request()))
    assert len(backend.requests) == 1
    assert "".join(c.text for c in replayed) == "".join(c.text for c in live) == "two plus two is four"
    final = replayed[-1].response
    assert final is not None and final.cached and final.text == "two plus two is four"
    assert replayed[-1].finish_reason == "stop" and replayed[-1].usage == Usage(10, 5)
    assert (await cache.complete(request())).cached  # the streamed answer serves complete() too
    assert outcomes(events) == ["miss", "hit", "hit"]


async def test_complete_fills_the_cache_for_streams() -> None:
    backend = FakeBackend(lambda r: answer("four"))
    cache = layer(backend)
    await cache.complete(request())
    chunks = await collect(cache.stream(request()))
    assert [c.text for c in chunks] == ["four", ""]
    assert len(backend.requests) == 1


class BreaksMidStream:
    """Sends two chunks, then the connection breaks (as a provider's stream can)."""

    name = "breaks"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.calls += 1
        yield ChatChunk(text="two ")
        yield ChatChunk(text="plus ")
        raise llmprod.errors.ProviderConnectionError("reset mid-stream")

    async def aclose(self) -> None:
        return None


async def test_a_broken_stream_is_never_stored() -> None:
    backend = BreaksMidStream()
    cache = layer(backend)
    for _ in range(2):
        received: list[str] = []
        with pytest.raises(llmprod.StreamInterruptedError) as info:
            async for chunk in cache.stream(request()):
                received.append(chunk.text)
        assert received == ["two ", "plus "]
        assert isinstance(info.value.__cause__, llmprod.errors.ProviderConnectionError)
    assert backend.calls == 2


async def test_a_stream_the_caller_abandons_is_never_stored() -> None:
    backend = FakeBackend(lambda r: answer("one two three"))
    cache = layer(backend)
    stream = cache.stream(request())
    assert (await anext(stream)).text
    await stream.aclose()  # type: ignore[attr-defined]
    assert not (await cache.complete(request())).cached


async def test_a_stream_joins_an_identical_call_in_flight() -> None:
    gate = asyncio.Event()

    async def slow(r: ChatRequest) -> ChatResponse:
        await gate.wait()
        return answer("four")

    backend = FakeBackend(slow)
    cache = layer(backend)
    leader = asyncio.create_task(cache.complete(request()))
    await settle(lambda: len(backend.requests) == 1)
    follower = asyncio.create_task(collect(cache.stream(request())))
    await settle(lambda: True)
    gate.set()
    await leader
    chunks = await follower
    assert chunks[-1].response is not None and chunks[-1].response.cached
    assert len(backend.requests) == 1


# -- through the client ----------------------------------------------------------------


def client(backend: Any, hooks: list[Any] | None = None, **config: Any) -> llmprod.AsyncClient:
    sink = hooks if hooks is not None else []
    return llmprod.AsyncClient(
        backend, cache=llmprod.Cache(**config), retry=None, breaker=None, hooks=[sink.append], telemetry=False
    )


async def test_client_marks_hits_cached_and_reports_them_to_hooks() -> None:
    backend = FakeBackend(lambda r: answer())
    events: list[Any] = []
    async with client(backend, events) as c:
        first = await c.chat("What is 2 + 2?")
        second = await c.chat("What is 2 + 2?", tags={"run": "2"})
    assert not first.cached and first.attempts == 1
    assert second.cached and second.attempts == 0 and second.text == first.text
    assert outcomes(events) == ["miss", "hit"]
    finished = [e for e in events if isinstance(e, llmprod.events.CallFinished)]
    assert finished[-1].response is not None and finished[-1].response.cached
    assert len(backend.requests) == 1


async def test_client_serves_stale_when_every_backend_fails() -> None:
    healthy = True
    backend = FakeBackend(lambda r: answer() if healthy else llmprod.errors.ServerError("down", status=503))
    async with client(backend, ttl=0.05, stale_ttl=60) as c:
        await c.chat("What is 2 + 2?")
        healthy = False
        assert c._cache is not None
        later = c._cache.clock() + 1.0
        c._cache.clock = lambda: later  # the entry's 50 ms TTL has passed (its stale grace has not)
        stale = await c.chat("What is 2 + 2?")
        with pytest.raises(llmprod.errors.ServerError):
            await c.chat("Something never answered")
    assert stale.stale and stale.cached and stale.text == "4"


async def test_client_stream_hit_is_replayed() -> None:
    backend = FakeBackend(lambda r: answer("two plus two is four"))
    async with client(backend) as c:
        live = [chunk async for chunk in c.stream("What is 2 + 2?")]
        replay = [chunk async for chunk in c.stream("What is 2 + 2?")]
    assert "".join(ch.text for ch in replay) == "".join(ch.text for ch in live)
    assert replay[-1].response is not None and replay[-1].response.cached
    assert live[-1].response is not None and not live[-1].response.cached
    assert len(backend.requests) == 1


async def test_fifty_callers_one_request_reaches_the_loopback_server() -> None:
    pytest.importorskip("llmprod.backends.openai", reason="llmprod.OpenAICompatible has not landed")
    from llmprod.testing import Fault, FaultServer

    async with FaultServer() as server:
        server.always(Fault.slow(delay=0.3))  # keeps the first call in flight while the others arrive
        backend = llmprod.OpenAICompatible(base_url=server.url, model="m", api_key="sk-test")
        async with client(backend) as c:
            results = await asyncio.gather(*(c.chat("What is 2 + 2?", max_tokens=5) for _ in range(50)))
            again = await c.chat("What is 2 + 2?", max_tokens=5)
    assert len(server.requests) == 1
    assert len({r.text for r in results}) == 1 and again.cached
    assert sum(r.cached for r in results) == 49


def test_memory_store_is_the_default_and_warns_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="llmprod")
    cache = layer(FakeBackend(lambda r: "ok"))
    assert isinstance(cache.store, MemoryStore)
    assert cache.usage() == (0, 0)
    assert not caplog.records


async def test_an_answer_the_output_guard_flags_is_not_cached() -> None:
    backend = FakeBackend(lambda r: answer("the secret is 42"))
    guards = llmprod.Guards(
        output_classifiers=[lambda text: "leak" if "secret" in text else None], output_action="flag"
    )
    async with llmprod.AsyncClient(
        backend, cache=llmprod.Cache(), guards=guards, retry=None, breaker=None, telemetry=False
    ) as c:
        first = await c.chat("tell me")
        second = await c.chat("tell me")
    assert first.flagged and second.flagged and not second.cached
    assert len(backend.requests) == 2


async def test_client_stats_report_what_the_cache_holds() -> None:
    backend = FakeBackend(lambda r: answer())
    async with client(backend) as c:
        for prompt in ("a", "b", "a", "c"):
            await c.chat(prompt)
        stats = c.stats()
    assert stats.cache_entries == 3
    assert stats.cache_bytes is not None and stats.cache_bytes > 0
    assert "cache holds 3 entries" in repr(stats)
