"""A provider that ignores ``max_tokens`` (the fault server answering 1,000 words to
``max_tokens=20``) cannot blow through a hard budget: a stream is cut at the stated
bound (1.5 x max_tokens + 16 tokens, counted locally), whatever is spent past the limit
is reported (a ``BudgetAlert`` of kind ``"overspend"``, the ledger's ``overspent``), and
the next calls are refused before anything is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import llmprod
from llmprod._core.events import BudgetAlert, Event
from llmprod.cost import prices
from llmprod.testing import FaultServer

MODEL = "overspend-test-model"
PRICE = 0.001  # USD an output token ($1,000 per million); input is free
MAX_TOKENS = 20
WORST = MAX_TOKENS * PRICE  # what a call reserves
CAP = MAX_TOKENS * 3 // 2 + 16  # the stated bound: a stream is cut past this many tokens
BOUND = (CAP + 2) * PRICE  # the most one cut stream costs (the cut lands within a chunk of the cap)
FLOOD = " ".join(["alpha"] * 1000)  # what the server sends, whatever max_tokens says


@pytest.fixture(autouse=True)
def priced_model() -> Iterator[None]:
    prices.register(MODEL, input=0.0, output=PRICE * 1_000_000)
    yield


def budget_client(server: FaultServer, hard: float, alerts: list[BudgetAlert]) -> llmprod.AsyncClient:
    def hook(event: Event) -> None:
        if isinstance(event, BudgetAlert):
            alerts.append(event)

    backend = llmprod.OpenAICompatible(base_url=server.url, model=MODEL)
    return llmprod.AsyncClient(backend, retry=None, breaker=None, budget=llmprod.Budget(hard=hard), hooks=[hook])


async def refused_both_ways(client: llmprod.AsyncClient) -> None:
    with pytest.raises(llmprod.BudgetExceededError):
        await client.chat("again", max_tokens=MAX_TOKENS)
    with pytest.raises(llmprod.BudgetExceededError):
        async for _ in client.stream("again", max_tokens=MAX_TOKENS):
            pass


async def test_a_stream_past_max_tokens_is_cut_and_its_overspend_is_bounded_and_reported(
    fault_server: FaultServer,
) -> None:
    fault_server.reply(FLOOD)
    alerts: list[BudgetAlert] = []
    async with budget_client(fault_server, WORST, alerts) as client:  # room for exactly one call
        chunks = [c async for c in client.stream("tell me everything", max_tokens=MAX_TOKENS)]
        final = chunks[-1].response
        assert final is not None and final.finish_reason == "length"
        assert final.usage.completion_tokens <= CAP + 2  # cut at the bound, not 1,000 words
        assert len(final.text.split()) < 100
        assert final.cost is not None and WORST < final.cost <= BOUND
        await refused_both_ways(client)
        report = client.costs()
    assert [a.kind for a in alerts] == ["overspend", "hard"]
    over = alerts[0]
    assert over.limit == WORST and over.spent == pytest.approx(final.cost)
    assert over.spent <= WORST + BOUND  # the hard budget, plus one cut stream at most
    assert report.overspent == pytest.approx(final.cost - WORST)
    assert report.overspent_by_budget == {over.budget: pytest.approx(final.cost - WORST)}
    assert report.to_dict()["overspent"] == report.overspent
    assert len(fault_server.requests) == 1  # the refused calls were never sent


async def test_concurrent_streams_overspend_at_most_one_bound_each(fault_server: FaultServer) -> None:
    fault_server.reply(FLOOD)
    alerts: list[BudgetAlert] = []
    hard = 5 * WORST  # five reservations fit; the sixth call is refused
    async with budget_client(fault_server, hard, alerts) as client:

        async def one(i: int) -> llmprod.ChatResponse:
            chunks = [c async for c in client.stream(f"question {i}", max_tokens=MAX_TOKENS)]
            response = chunks[-1].response
            assert response is not None
            return response

        outcomes = await asyncio.gather(*(one(i) for i in range(6)), return_exceptions=True)
        await refused_both_ways(client)
        report = client.costs()
    answered = [o for o in outcomes if isinstance(o, llmprod.ChatResponse)]
    assert len(answered) == 5 and sum(isinstance(o, llmprod.BudgetExceededError) for o in outcomes) == 1
    assert all(r.finish_reason == "length" for r in answered)
    spent = sum(r.cost or 0.0 for r in answered)
    assert hard < spent <= hard + 5 * (BOUND - WORST)
    assert report.overspent == pytest.approx(spent - hard)
    assert max(a.spent for a in alerts if a.kind == "overspend") == pytest.approx(spent)
    assert len(fault_server.requests) == 5


async def test_a_whole_answer_past_max_tokens_is_reported_and_the_next_calls_are_refused(
    fault_server: FaultServer,
) -> None:
    # A whole answer cannot be cut: it is billed as the provider reports it (1,000
    # tokens). The overspend is that one answer's, reported, and nothing more is sent.
    fault_server.reply(FLOOD)
    alerts: list[BudgetAlert] = []
    async with budget_client(fault_server, WORST, alerts) as client:
        response = await client.chat("tell me everything", max_tokens=MAX_TOKENS)
        await refused_both_ways(client)
        report = client.costs()
    assert response.usage.completion_tokens == 1000 and not response.usage.estimated
    assert response.cost == pytest.approx(1000 * PRICE)
    assert [a.kind for a in alerts] == ["overspend", "hard"]
    assert alerts[0].spent == pytest.approx(1000 * PRICE)
    assert report.overspent == pytest.approx(1000 * PRICE - WORST)
    assert report.total.cost == pytest.approx(1000 * PRICE)
    assert len(fault_server.requests) == 1


async def test_no_overspend_is_reported_while_the_budget_holds(fault_server: FaultServer) -> None:
    # A call that costs more than it reserved, on a budget with room for it: nothing past
    # the limit, so no alert and nothing overspent.
    fault_server.reply(" ".join(["alpha"] * 30))
    alerts: list[BudgetAlert] = []
    async with budget_client(fault_server, 1.0, alerts) as client:
        response = await client.chat("hi", max_tokens=MAX_TOKENS)
        report = client.costs()
    assert response.cost == pytest.approx(30 * PRICE) and response.cost > WORST
    assert alerts == [] and report.overspent == 0.0
