"""Spend shared through a real redis-server: budgets and the ledger across clients
(each client stands for a process: they share nothing but Redis)."""

from __future__ import annotations

import asyncio

import pytest

import llmprod
from llmprod.cost import _spend_redis
from llmprod.cost._spend_redis import RedisSpend

from .test_budget import ACTUAL, WORST, sim

pytestmark = pytest.mark.redis


async def test_two_processes_cannot_overspend_a_shared_budget(redis_server) -> None:  # type: ignore[no-untyped-def]
    budget = llmprod.Budget(hard=0.25, redis_url=redis_server.url)
    slow = llmprod.backends.Latency(median=1.0, p99=1.0)  # every call reserves before any settles
    backends = [sim(latency=slow), sim(latency=slow)]
    clients = [llmprod.AsyncClient(b, retry=None, breaker=None, budget=budget) for b in backends]
    try:
        calls = [c.chat("hello", max_tokens=20) for c in clients for _ in range(50)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        for c in clients:
            await c.aclose()
    ok = [o for o in outcomes if isinstance(o, llmprod.ChatResponse)]
    assert all(isinstance(o, llmprod.ChatResponse | llmprod.BudgetExceededError) for o in outcomes)
    assert len(ok) == int(0.25 // WORST) == 8  # one budget for both, not 8 each
    assert sum(b.calls for b in backends) == 8
    store = RedisSpend(redis_server.url)
    try:
        assert await store.spent("client@total") == pytest.approx(8 * ACTUAL)
    finally:
        await store.aclose()


async def test_a_dead_processs_reservations_expire(redis_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    store = RedisSpend(redis_server.url)
    try:
        monkeypatch.setattr(_spend_redis, "RESERVATION_TTL", -1.0)  # reservations already expired
        held = await store.reserve("k@total", 0.9, 1.0, None)
        assert held.reservation is not None  # ... and never settled: its process "died"
        monkeypatch.setattr(_spend_redis, "RESERVATION_TTL", 600.0)
        decision = await store.reserve("k@total", 0.9, 1.0, None)
        assert decision.reservation is not None and decision.reserved == 0.0
        refused = await store.reserve("k@total", 0.2, 1.0, None)  # the live one does count
        assert refused.reservation is None and refused.reserved == pytest.approx(0.9)
        assert await store.settle(decision.reservation, 0.5, 3600) == pytest.approx(0.5)
        assert await store.first_alert("k@total", "soft", 60) is True
        assert await store.first_alert("k@total", "soft", 60) is False
    finally:
        await store.aclose()


async def test_redis_ledger_totals_are_shared(redis_server) -> None:  # type: ignore[no-untyped-def]
    ledgers = [llmprod.cost.RedisLedger(redis_server.url), llmprod.cost.RedisLedger(redis_server.url)]
    clients = [llmprod.AsyncClient(sim(), retry=None, breaker=None, hooks=[ledger]) for ledger in ledgers]
    try:
        for i, c in enumerate(clients):
            assert c.ledger is ledgers[i]  # the client reports from the ledger it was given
            await asyncio.gather(*(c.chat("hello", max_tokens=20, tenant=f"t{i}") for _ in range(3)))
        await ledgers[1].flush()  # the other "process" has written its calls
        shared = await ledgers[0].areport()
        local = clients[0].costs()
    finally:
        for c, ledger in zip(clients, ledgers, strict=True):
            await c.aclose()
            await ledger.aclose()
    assert local.total.requests == 3
    assert shared.total.requests == 6
    assert shared.total.cost == pytest.approx(6 * ACTUAL)
    assert set(shared.by("tenant")) == {"t0", "t1"}
    assert shared.by("model")["sim-budget"].completion_tokens == 120
