"""Budgets: hard limits refuse before sending, reservations stop concurrent overspend,
soft thresholds fire once, cache hits are neither charged nor refused."""

from __future__ import annotations

import asyncio

import pytest

import llmprod
from llmprod._core.events import BudgetAlert, Event

# $1,000 per million tokens = $0.001 a token, so costs are easy to reason about.
# "hello": we count 8 prompt tokens before sending (3 + role + content + 3); the
# simulated provider reports 4. With max_tokens=20 (and 20 answered):
WORST = 0.028  # (8 + 20) tokens reserved
ACTUAL = 0.024  # (4 + 20) tokens billed


def sim(**kwargs: object) -> llmprod.Simulated:
    options: dict[str, object] = {
        "latency": llmprod.backends.Latency(median=0.05, p99=0.05),
        "tokens_per_second": 10_000,
        "answer_tokens": 20,
        "input_price": 1000.0,
        "output_price": 1000.0,
    }
    options.update(kwargs)
    return llmprod.Simulated("sim-budget", **options)  # type: ignore[arg-type]


def client(backend: llmprod.Simulated, budget: llmprod.Budget, **kwargs: object) -> llmprod.AsyncClient:
    return llmprod.AsyncClient(backend, retry=None, breaker=None, budget=budget, **kwargs)  # type: ignore[arg-type]


async def _outcomes(c: llmprod.AsyncClient, n: int, **kwargs: object) -> list[llmprod.ChatResponse | BaseException]:
    calls = [c.chat("hello", max_tokens=20, **kwargs) for _ in range(n)]
    return list(await asyncio.gather(*calls, return_exceptions=True))


async def test_one_call_costs_what_we_expect() -> None:
    async with client(sim(), llmprod.Budget(hard=1.0)) as c:
        r = await c.chat("hello", max_tokens=20)
    assert r.usage.prompt_tokens == 4 and r.usage.completion_tokens == 20
    assert r.cost == pytest.approx(ACTUAL)


async def test_100_concurrent_calls_cannot_overspend_a_hard_budget() -> None:
    backend = sim(latency=llmprod.backends.Latency(median=0.5, p99=0.5))  # all reserve before any settles
    hard = 0.25
    async with client(backend, llmprod.Budget(hard=hard)) as c:
        outcomes = await _outcomes(c, 100)
        report = c.costs()
    ok = [o for o in outcomes if isinstance(o, llmprod.ChatResponse)]
    refused = [o for o in outcomes if isinstance(o, llmprod.BudgetExceededError)]
    assert len(ok) + len(refused) == 100
    # All 100 reserve their worst case before any finishes: exactly floor(0.25 / 0.028) = 8 fit.
    assert len(ok) == int(hard // WORST) == 8
    assert backend.calls == len(ok)  # refused calls never reached the provider
    assert sum(r.cost or 0 for r in ok) <= hard
    assert report.total.cost <= hard
    assert refused[0].limit == hard and "hard budget client@total would be exceeded" in str(refused[0])


async def test_settled_reservations_free_room_for_later_calls() -> None:
    async with client(sim(), llmprod.Budget(hard=0.25)) as c:
        done = 0
        with pytest.raises(llmprod.BudgetExceededError) as refused:
            for _ in range(100):
                await c.chat("hello", max_tokens=20)
                done += 1
    # Sequentially each call settles to its actual $0.024; call n+1 is admitted while
    # n * 0.024 + 0.028 <= 0.25, i.e. for n <= 9: ten calls, then a refusal.
    assert done == 10
    assert refused.value.spent == pytest.approx(10 * ACTUAL)


async def test_a_failed_call_releases_its_reservation() -> None:
    async with client(sim(failure_rate=1.0, faults=["server_error"]), llmprod.Budget(hard=0.03)) as c:
        for _ in range(5):  # each would have reserved $0.028 of $0.03 and never settled
            with pytest.raises((llmprod.errors.ServerError, llmprod.AllBackendsFailedError)):
                await c.chat("hello", max_tokens=20)
    async with client(sim(), llmprod.Budget(hard=0.03)) as c:
        await c.chat("hello", max_tokens=20)


async def test_worst_case_uses_the_models_limit_when_max_tokens_is_unset() -> None:
    backend = sim(context_window=1000)
    async with client(backend, llmprod.Budget(hard=0.5)) as c:
        with pytest.raises(llmprod.BudgetExceededError, match=r"worst case \$1\.000000"):
            await c.chat("hello")  # 8 prompt + (1000 - 8) output tokens could be produced
        await c.chat("hello", max_tokens=20)
    assert backend.calls == 1


async def test_soft_threshold_fires_once_per_window() -> None:
    crossed: list[tuple[str, float, float]] = []
    alerts: list[BudgetAlert] = []

    def hook(event: Event) -> None:
        if isinstance(event, BudgetAlert):
            alerts.append(event)

    budget = llmprod.Budget(soft=0.05, on_soft=lambda key, spent, limit: crossed.append((key, spent, limit)))
    async with client(sim(), budget, hooks=[hook]) as c:
        for _ in range(6):
            await c.chat("hello", max_tokens=20)
    assert len(crossed) == 1 and len(alerts) == 1
    key, spent, limit = crossed[0]
    assert key == "client@total" and limit == 0.05
    assert spent == pytest.approx(3 * ACTUAL)  # the third call crossed $0.05
    assert alerts[0].kind == "soft" and alerts[0].spent == spent


async def test_per_tenant_budgets_are_separate_and_windowed() -> None:
    budget = llmprod.Budget(hard=0.03, per="tenant", window="day")
    async with client(sim(), budget) as c:
        await c.chat("hello", max_tokens=20, tenant="acme")
        with pytest.raises(llmprod.BudgetExceededError) as refused:
            await c.chat("hello", max_tokens=20, tenant="acme")
        await c.chat("hello", max_tokens=20, tenant="globex")
    assert refused.value.budget.startswith("tenant:acme@") and len(refused.value.budget) == len(
        "tenant:acme@2026-11-27"
    )


async def test_per_tag_budget() -> None:
    budget = llmprod.Budget(hard=0.03, per="tag:feature")
    async with client(sim(), budget) as c:
        await c.chat("hello", max_tokens=20, tags={"feature": "search"})
        with pytest.raises(llmprod.BudgetExceededError, match="tag:feature=search"):
            await c.chat("hello", max_tokens=20, tags={"feature": "search"})
        await c.chat("hello", max_tokens=20, tags={"feature": "summaries"})


async def test_stream_cost_is_on_the_final_chunk_and_counts_against_the_budget() -> None:
    async with client(sim(), llmprod.Budget(hard=0.03)) as c:
        chunks = [chunk async for chunk in c.stream("hello", max_tokens=20)]
        final = chunks[-1].response
        assert final is not None and final.cost == pytest.approx(ACTUAL)
        with pytest.raises(llmprod.BudgetExceededError):
            async for _ in c.stream("hello", max_tokens=20):
                pass


async def test_cache_hits_are_never_charged_nor_refused() -> None:
    backend = sim()
    cache = llmprod.Cache(ttl=60)
    async with client(backend, llmprod.Budget(hard=0.03), cache=cache) as c:
        first = await c.chat("hello", max_tokens=20, temperature=0)
        hits = [await c.chat("hello", max_tokens=20, temperature=0) for _ in range(3)]  # budget now too low to send
        with pytest.raises(llmprod.BudgetExceededError):
            await c.chat("something new", max_tokens=20, temperature=0)
        report = c.costs()
    assert backend.calls == 1 and all(h.cached for h in hits)
    assert report.total.cost == pytest.approx(ACTUAL)  # only the miss was charged
    assert report.total.cache_hits == 3
    assert report.total.saved == pytest.approx(3 * (first.cost or 0))


async def test_an_api_keys_own_budget_counts_that_keys_calls_on_top_of_the_clients() -> None:
    from tests.fixtures_secrets import TENANT_KEY_A, TENANT_KEY_B

    policy = llmprod.AccessPolicy(
        [
            # Room for exactly 2 worst cases (2 x 0.028 = 0.056 <= 0.06 < 3 x 0.028).
            llmprod.ApiKey.create(TENANT_KEY_A, name="team-a", budget=llmprod.Budget(hard=0.06)),
            llmprod.ApiKey.create(TENANT_KEY_B, name="team-b"),
        ]
    )
    backend = sim(latency=llmprod.backends.Latency(median=0.2, p99=0.2))  # all reserve before any settles
    async with client(backend, llmprod.Budget(hard=0.2), access=policy) as c:
        a = await _outcomes(c, 5, api_key=TENANT_KEY_A)
        b = await _outcomes(c, 5, api_key=TENANT_KEY_B)
    assert [type(o) for o in a].count(llmprod.ChatResponse) == 2  # team-a's own budget
    assert all(
        isinstance(o, llmprod.BudgetExceededError) and "llmprod.api_key=team-a" in o.budget
        for o in a
        if not isinstance(o, llmprod.ChatResponse)
    )
    # team-b has no budget of its own: only the client's $0.2 bounds it, with team-a's spend counted.
    assert [type(o) for o in b].count(llmprod.ChatResponse) == int((0.2 - 2 * ACTUAL) // WORST)
    assert backend.calls == 2 + 5
