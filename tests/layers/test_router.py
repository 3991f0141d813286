"""Hybrid routing: tiers by complexity, escalation, regions, SLO classes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import llmprod
from llmprod import ChatChunk, ChatResponse, Usage
from llmprod._core.request import build_request
from llmprod.backends import ChatRequest
from llmprod.layers._routing import complexity

EASY = [
    "What is the capital of France?",
    "Say hello in Spanish.",
    "Translate 'thank you' to German.",
    "Give me a synonym for happy.",
    "Is a tomato a fruit?",
    "What time zone is Tokyo in?",
    "Spell 'necessary'.",
    "Name three primary colours.",
]
HARD = [
    "Prove that the square root of 2 is irrational, step by step.",
    "Write a Python function def merge(intervals): that merges overlapping intervals and explain its complexity.",
    "Design a multi-region architecture for a payment system and analyze the trade-offs in detail.",
    "Solve for x: 3x^2 + 2x - 5 = 0, then compute the integral of the result from 0 to 1.",
    "First compare and contrast Raft and Paxos, then plan a migration from one to the other.",
    "```sql\nSELECT a FROM t JOIN u ON t.id = u.id\n```\nWhy is this query slow? Explain why, in detail.",
    "1. Read the contract.\n2. List every obligation.\n3. Justify which ones are risky.",
    "Derive the probability that two of 23 people share a birthday and prove the bound.",
]


@pytest.mark.parametrize("prompt", EASY)
def test_easy_prompts_score_low(prompt: str) -> None:
    score, _ = complexity(build_request(prompt))
    assert score < 0.5, (prompt, score)


@pytest.mark.parametrize("prompt", HARD)
def test_hard_prompts_score_high(prompt: str) -> None:
    score, reason = complexity(build_request(prompt))
    assert score >= 0.5, (prompt, score, reason)


def test_long_requested_output_and_deep_conversations_raise_the_score() -> None:
    short = complexity(build_request("Tell me about rivers", max_tokens=50))[0]
    long = complexity(build_request("Tell me about rivers", max_tokens=4000))[0]
    assert long > short
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": "more"} for i in range(11)]
    assert complexity(build_request(None, messages=turns))[0] > complexity(build_request("more"))[0]


class Named:
    """A backend that answers with its own name (and counts calls), or fails."""

    def __init__(self, name: str, *, fail: BaseException | None = None, delay: float = 0.0) -> None:
        self.name = name
        self.fail = fail
        self.delay = delay
        self.calls = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return ChatResponse(
            id=self.name, text=self.name, finish_reason="stop", usage=Usage(5, 5), model=self.name, deployment=self.name
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = await self.complete(request)
        yield ChatChunk(text=response.text)
        yield ChatChunk(finish_reason="stop", usage=response.usage, response=response)

    async def aclose(self) -> None:
        return None


def tiered(small: Named, large: Named, **router: object) -> llmprod.AsyncClient:
    return llmprod.AsyncClient(
        [
            llmprod.Deployment(replicas=[small], name=small.name, tier="small"),
            llmprod.Deployment(replicas=[large], name=large.name, tier="large"),
        ],
        router=llmprod.Router(**router),  # type: ignore[arg-type]
        retry=None,
        breaker=None,
    )


async def test_labelled_prompts_land_on_the_expected_tier() -> None:
    small, large = Named("small-model"), Named("big-model")
    async with tiered(small, large) as client:
        for prompt in EASY:
            r = await client.chat(prompt)
            assert (r.text, r.tier) == ("small-model", "small"), prompt
        for prompt in HARD:
            r = await client.chat(prompt)
            assert (r.text, r.tier) == ("big-model", "large"), prompt
            assert r.route_reason and "score" in r.route_reason


async def test_custom_classifier_and_per_request_override() -> None:
    small, large = Named("s"), Named("l")
    async with tiered(small, large, classifier=lambda req: ("large", "vip customer")) as client:
        r = await client.chat("hi")
        assert (r.tier, r.route_reason) == ("large", "vip customer")
        r = await client.chat("hi", tier="small")
        assert (r.tier, r.route_reason) == ("small", "requested")
        with pytest.raises(llmprod.InvalidRequestError):
            await client.chat("hi", tier="medium")


async def test_escalates_when_the_small_answer_fails_the_check() -> None:
    small, large = Named("meh"), Named("great")
    async with tiered(small, large, escalate=lambda r: r.text != "meh") as client:
        r = await client.chat("What is 2+2?")
    assert r.text == "great"
    assert r.tier == "large"
    assert r.route_reason is not None and r.route_reason.startswith("escalated from small")
    assert (small.calls, large.calls) == (1, 1)


async def test_small_tier_down_falls_back_to_large() -> None:
    small = Named("s", fail=llmprod.errors.ServerError("down", status=503))
    large = Named("l")
    async with tiered(small, large) as client:
        r = await client.chat("hello")
    assert r.text == "l"
    assert r.tier == "large"


async def test_region_preference_and_failover_when_its_breakers_are_open() -> None:
    eu = Named("eu", fail=llmprod.errors.ServerError("down", status=500))
    us = Named("us")
    client = llmprod.AsyncClient(
        [
            llmprod.Deployment(replicas=[us], name="us", tier="small", region="us"),
            llmprod.Deployment(replicas=[eu], name="eu", tier="small", region="eu"),
        ],
        router=llmprod.Router(classifier=lambda req: "small", region="eu"),
        retry=None,
        breaker=llmprod.Breaker(fail_max=2, reset_timeout=60),
    )
    async with client:
        for _ in range(4):
            assert (await client.chat("x")).text == "us"
        assert eu.calls == 2  # the EU breaker opened after two failures: later calls skip it
        eu.fail = None
        assert (await client.chat("x", region="us")).text == "us"


@pytest.mark.looptime  # virtual time: the deadline is read on the loop's clock, whatever the machine's load
async def test_slo_class_sets_the_deadline() -> None:
    slow = Named("slow", delay=1.0)
    async with llmprod.AsyncClient(slow, retry=None, breaker=None) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(llmprod.DeadlineExceededError):
            await client.chat("x", slo="realtime")
        assert loop.time() - started < 0.9
        assert loop.time() - started == pytest.approx(0.1)  # the realtime class's 0.1 s, not the backend's 1 s
        with pytest.raises(llmprod.InvalidRequestError):
            await client.chat("x", slo="whenever")


async def test_slo_steers_to_deployments_whose_latency_fits() -> None:
    slow = Named("slow", delay=0.15)
    fast = Named("fast", delay=0.0)
    client = llmprod.AsyncClient(
        [
            llmprod.Deployment(replicas=[slow], name="slow", tier="small"),
            llmprod.Deployment(replicas=[fast], name="fast", tier="small"),
        ],
        router=llmprod.Router(classifier=lambda req: "small"),
        retry=None,
        breaker=None,
    )
    async with client:
        await client.chat("warm up", tier="small")  # the slow one answers first: its latency is observed
        r = await client.chat("x", slo="realtime")
    assert r.text == "fast"
