"""The spend ledger: totals by model, deployment, tenant and tag; cache savings;
thread safety; exports; the client's costs()."""

from __future__ import annotations

import json
import threading

import pytest

import llmprod
from llmprod._core.events import BudgetAlert, CacheLookup, CallFinished
from llmprod._core.models import ChatResponse, Usage


def finished(
    call_id: str,
    *,
    cost: float | None = 0.001,
    model: str = "gpt-4o",
    deployment: str = "openai",
    tenant: str | None = "acme",
    tags: dict[str, str] | None = None,
    cached: bool = False,
    error: str | None = None,
) -> CallFinished:
    response = None
    if error is None:
        usage = Usage(prompt_tokens=100, completion_tokens=50, cached_tokens=20)
        response = ChatResponse(
            id=call_id, text="secret answer", finish_reason="stop", usage=usage, model=model,
            deployment=deployment, cost=cost, cached=cached,
        )  # fmt: skip
    return CallFinished(call_id, False, 0.1, response=response, error=error, tenant=tenant, tags=tags or {})


def test_totals_and_breakdowns() -> None:
    ledger = llmprod.cost.Ledger()
    ledger(finished("1", cost=0.002, tags={"feature": "search"}))
    ledger(finished("2", cost=0.004, model="claude-haiku-4-5", deployment="anthropic", tenant="globex"))
    ledger(finished("3", cost=None, model="mystery"))
    ledger(finished("4", error="ServerError"))
    report = ledger.report()
    t = report.total
    assert (t.requests, t.errors, t.unpriced) == (3, 1, 1)
    assert t.cost == pytest.approx(0.006)
    assert t.per_1k_requests == pytest.approx(0.006 / 2 * 1000)  # unpriced calls are left out
    assert t.prompt_tokens == 300 and t.completion_tokens == 150 and t.cached_tokens == 60
    assert t.per_1m_tokens == pytest.approx(0.006 / 450 * 1e6)
    assert report.by("model")["claude-haiku-4-5"].cost == pytest.approx(0.004)
    assert report.by("tenant")["acme"].requests == 2 and report.by("tenant")["acme"].errors == 1
    assert report.by("tag")["feature=search"].cost == pytest.approx(0.002)
    assert set(report.by("deployment")) == {"openai", "anthropic"}


def test_cache_hits_are_recorded_as_savings_not_spend() -> None:
    # Fed the CacheLookup events the cache layer emits (tests/cost/test_budget.py covers
    # the same through a client with the real cache layer).
    ledger = llmprod.cost.Ledger()
    ledger(finished("miss", cost=0.003))
    ledger(CacheLookup("hit-1", "hit", saved_cost=0.003, saved_tokens=150))
    ledger(finished("hit-1", cost=0.003, cached=True))
    ledger(CacheLookup("hit-2", "coalesced", saved_cost=0.003, saved_tokens=150))
    ledger(finished("hit-2", cost=0.003, cached=True))
    ledger(CacheLookup("x", "miss"))
    t = ledger.report().total
    assert t.cost == pytest.approx(0.003)
    assert t.cache_hits == 2 and t.requests == 3
    assert t.saved == pytest.approx(0.006)
    assert t.per_1k_requests == pytest.approx(1.0)  # $0.003 over 3 requests
    assert ledger.report().by("tenant")["acme"].saved == pytest.approx(0.006)


def test_thread_safe_under_concurrent_recording() -> None:
    ledger = llmprod.cost.Ledger(keep=100)
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait()
        for i in range(2_000):
            ledger(finished(f"{n}-{i}", cost=0.5, tenant=f"t{n % 2}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = ledger.report()
    assert report.total.requests == 16_000
    assert report.total.cost == 8_000.0  # 0.5 is exact in binary: any lost update shows
    assert report.by("tenant")["t0"].requests == report.by("tenant")["t1"].requests == 8_000
    assert len(ledger.to_jsonl().splitlines()) == 100  # bounded records, exact totals


def test_exports_hold_no_text_and_render() -> None:
    ledger = llmprod.cost.Ledger()
    ledger(finished("1", tenant="<script>", tags={"team": "a&b"}))
    lines = [json.loads(line) for line in ledger.to_jsonl().splitlines()]
    assert lines[0]["cost"] == 0.001 and lines[0]["tenant"] == "<script>"
    assert "secret answer" not in ledger.to_jsonl()
    data = ledger.report().to_dict()
    assert data["total"]["requests"] == 1 and data["tenant"]["<script>"]["cost"] == 0.001
    assert json.dumps(data)  # plain JSON types
    text = repr(ledger.report())
    assert "per 1K requests" in text and "gpt-4o" in text
    html = ledger.report()._repr_html_()
    assert "<table>" in html and "&lt;script&gt;" in html and "<script>" not in html


async def test_client_costs_reports_its_calls() -> None:
    sim = llmprod.Simulated(latency=llmprod.backends.Latency(median=0.001, p99=0.002))
    async with llmprod.AsyncClient(sim, retry=None, breaker=None) as client:
        r = await client.chat("hi", max_tokens=5, tenant="acme", tags={"feature": "chat"})
        report = client.costs()
    assert report.total.requests == 1 and report.total.cost == pytest.approx(r.cost or 0)
    assert report.by("tag")["feature=chat"].requests == 1
    assert "$" in repr(report)


def test_sync_client_costs() -> None:
    sim = llmprod.Simulated(latency=llmprod.backends.Latency(median=0.001, p99=0.002))
    with llmprod.Client(sim, retry=None, breaker=None) as client:
        client.chat("hi", max_tokens=5)
        assert client.costs().total.requests == 1


async def test_estimated_usage_when_the_provider_reports_none() -> None:
    class Silent:
        name = "silent"
        model = "gpt-4o"

        async def complete(self, request: llmprod.backends.ChatRequest) -> ChatResponse:
            return ChatResponse(
                id="1", text="four words right here", finish_reason="stop", usage=Usage(), model="gpt-4o"
            )

        async def stream(self, request: llmprod.backends.ChatRequest):  # type: ignore[no-untyped-def]
            raise NotImplementedError
            yield

        async def aclose(self) -> None:
            return None

    async with llmprod.AsyncClient(Silent(), retry=None, breaker=None) as client:
        r = await client.chat("hello")
    assert r.usage.estimated and r.usage.completion_tokens == 4 and r.usage.prompt_tokens == 8
    assert r.cost == pytest.approx((8 * 2.5 + 4 * 10.0) / 1e6)
    assert client.costs().total.estimated == 1


def test_the_views_show_an_overspend_only_when_there_is_one() -> None:
    ledger = llmprod.cost.Ledger()
    ledger(finished("1", cost=0.5))
    held = ledger.report()
    assert "overspent" not in repr(held) and "overspent" not in held._repr_html_()
    ledger(BudgetAlert("<all>", "overspend", spent=0.5, limit=0.375))
    report = ledger.report()
    text = repr(report)
    assert "overspent     $0.125000 past hard budgets (<all> $0.125000)" in text
    page = report._repr_html_()
    assert "<b>overspent</b> $0.125000 past hard budgets (&lt;all&gt; $0.125000)" in page
