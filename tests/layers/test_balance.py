"""Load balancing: the ordering strategies (pure, table-driven) and the layer."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from llmprod import Breaker, CircuitOpenError, Message
from llmprod._core.deployment import Deployment
from llmprod._core.stack import StackConfig
from llmprod.backends import ChatRequest
from llmprod.errors import ServerError
from llmprod.layers.balance import BalanceLayer, Replica, order
from llmprod.testing import FakeBackend

from .calls import deployment_stack, until


def replicas(*names: str, weights: tuple[float, ...] | None = None) -> list[Replica]:
    ws = weights or (1.0,) * len(names)
    return [Replica(FakeBackend(lambda r: "ok", name=n), w) for n, w in zip(names, ws, strict=True)]


def names(rs: list[Replica]) -> list[str]:
    return [r.name for r in rs]


def request() -> ChatRequest:
    return ChatRequest(messages=(Message("user", "hi"),))


@pytest.mark.parametrize(("turn", "expected"), [(0, "abc"), (1, "bca"), (2, "cab"), (3, "abc")])
def test_round_robin_rotates(turn: int, expected: str) -> None:
    rs = replicas("a", "b", "c")
    assert "".join(names(order("round_robin", rs, turn=turn, rng=random.Random(0), now=0))) == expected


@pytest.mark.parametrize(
    ("inflight", "turn", "first"),
    [((3, 0, 1), 0, "b"), ((0, 0, 0), 1, "b"), ((0, 0, 0), 2, "c"), ((2, 2, 1), 0, "c")],
)
def test_least_inflight(inflight: tuple[int, ...], turn: int, first: str) -> None:
    rs = replicas("a", "b", "c")
    for r, n in zip(rs, inflight, strict=True):
        r.inflight = n
    assert names(order("least_inflight", rs, turn=turn, rng=random.Random(0), now=0))[0] == first


def test_latency_power_of_two_choices_prefers_the_faster_of_two() -> None:
    rs = replicas("fast", "mid", "slow")
    for r, ewma in zip(rs, (0.01, 0.05, 0.5), strict=True):
        r.ewma = ewma
    firsts = Counter(names(order("latency", rs, turn=0, rng=random.Random(s), now=0))[0] for s in range(300))
    # The slowest replica is never first; the fastest wins every pair it is in (2/3 of them).
    assert firsts["slow"] == 0
    assert 150 < firsts["fast"] < 250
    assert firsts["mid"] > 50


def test_latency_counts_inflight() -> None:
    rs = replicas("a", "b")
    rs[0].ewma, rs[1].ewma = 0.01, 0.02
    rs[0].inflight = 5  # 0.01 * 6 > 0.02 * 1
    assert names(order("latency", rs, turn=0, rng=random.Random(0), now=0))[0] == "b"


def test_weighted_is_smooth_and_proportional() -> None:
    rs = replicas("a", "b", "c", weights=(5, 1, 1))
    firsts = [names(order("weighted", rs, turn=0, rng=random.Random(0), now=0))[0] for _ in range(7)]
    assert Counter(firsts) == {"a": 5, "b": 1, "c": 1}
    assert firsts[:2] != ["a", "a"] or firsts[2] != "a"  # interleaved, not a burst of five


def test_known_open_replicas_go_last() -> None:
    rs = replicas("a", "b", "c")
    rs[0].open_until = 10.0
    assert names(order("round_robin", rs, turn=0, rng=random.Random(0), now=5.0)) == ["b", "c", "a"]
    assert names(order("round_robin", rs, turn=0, rng=random.Random(0), now=11.0)) == ["a", "b", "c"]


def layer(backends: list[FakeBackend], **options: object) -> BalanceLayer:
    return BalanceLayer(backends, Deployment(replicas=backends, name="dep", **options), lambda e: None)  # type: ignore[arg-type]


async def test_round_robin_spreads_calls() -> None:
    backends = [FakeBackend(lambda r: "ok", name=n) for n in "abc"]
    balance = layer(backends, balance="round_robin")
    for _ in range(9):
        await balance.complete(request())
    assert [len(b.requests) for b in backends] == [3, 3, 3]


async def test_least_inflight_avoids_a_busy_replica() -> None:
    gate = asyncio.Event()

    async def held(_: ChatRequest) -> str:
        await gate.wait()
        return "ok"

    backends = [FakeBackend(held, name="a"), FakeBackend(held, name="b")]
    balance = layer(backends, balance="least_inflight")
    tasks = [asyncio.create_task(balance.complete(request())) for _ in range(6)]
    await until(lambda: sum(len(b.requests) for b in backends) == 6)
    assert [r.inflight for r in balance.replicas] == [3, 3]
    gate.set()
    await asyncio.gather(*tasks)
    assert [r.inflight for r in balance.replicas] == [0, 0]


async def test_circuit_open_moves_on_within_the_same_attempt() -> None:
    refused = FakeBackend(lambda r: CircuitOpenError("dep", replica="a", retry_after=5.0), name="a")
    ok = FakeBackend(lambda r: "ok", name="b")
    balance = layer([refused, ok], balance="round_robin")
    for _ in range(4):
        assert (await balance.complete(request())).text == "ok"
    assert len(refused.requests) == 1  # known open for 5 s: tried last after that
    assert len(ok.requests) == 4


async def test_all_open_raises_circuit_open_for_the_deployment() -> None:
    backends = [
        FakeBackend(lambda r: CircuitOpenError("dep", replica="a", retry_after=3.0), name="a"),
        FakeBackend(lambda r: CircuitOpenError("dep", replica="b", retry_after=1.0), name="b"),
    ]
    with pytest.raises(CircuitOpenError) as info:
        await layer(backends).complete(request())
    assert info.value.replica is None and info.value.retry_after == 1.0


async def test_other_errors_end_the_attempt() -> None:
    failing = FakeBackend(lambda r: ServerError("down", status=503), name="a")
    ok = FakeBackend(lambda r: "ok", name="b")
    with pytest.raises(ServerError):
        await layer([failing, ok], balance="round_robin").complete(request())
    assert ok.requests == []


async def test_stream_skips_open_replicas_and_releases_inflight() -> None:
    refused = FakeBackend(lambda r: CircuitOpenError("dep", replica="a"), name="a")
    ok = FakeBackend(lambda r: "one two", name="b")
    balance = layer([refused, ok], balance="round_robin")
    chunks = [c async for c in balance.stream(request())]
    assert "".join(c.text for c in chunks) == "one two"
    stream = balance.stream(request())
    await anext(stream)
    assert sum(r.inflight for r in balance.replicas) == 1
    await stream.aclose()
    assert [r.inflight for r in balance.replicas] == [0, 0]


async def test_a_replica_whose_breaker_opened_is_skipped_in_the_stack() -> None:
    down = FakeBackend(lambda r: ServerError("down", status=503), name="down")
    up = FakeBackend(lambda r: "ok", name="up")
    deployment = Deployment(replicas=[down, up], name="dep", balance="round_robin")
    config = StackConfig(retry=None, breaker=Breaker(fail_max=2, reset_timeout=30))
    stack = deployment_stack(deployment, config)
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append((await stack.complete(request())).text)
        except ServerError:
            outcomes.append("error")
    assert outcomes.count("error") == 2 and len(down.requests) == 2
    assert len(up.requests) == 18
