"""The async client core on the simulated provider and on FakeBackend-style backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import llmprod
from llmprod import ChatChunk, ChatResponse, Usage
from llmprod.backends import ChatRequest

FAST = llmprod.backends.Latency(median=0.001, p99=0.002)


class Scripted:
    """A backend whose answers and failures the test scripts; counts its calls."""

    def __init__(self, *results: object, name: str = "scripted") -> None:
        self.results = list(results)
        self.name = name
        self.calls: list[ChatRequest] = []

    def _next(self) -> object:
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        result = self._next()
        if isinstance(result, BaseException):
            raise result
        if isinstance(result, float):
            await asyncio.sleep(result)
            result = "slow"
        return ChatResponse(
            id="r", text=str(result), finish_reason="stop", usage=Usage(1, 1), model="m", deployment=self.name
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.calls.append(request)
        result = self._next()
        if isinstance(result, BaseException):
            raise result
        for word in str(result).split():
            yield ChatChunk(text=word)
            if word == "BREAK":
                raise llmprod.errors.ProviderConnectionError("cut", deployment=self.name)
        final = ChatResponse(
            id="r", text=str(result), finish_reason="stop", usage=Usage(1, 1), model="m", deployment=self.name
        )
        yield ChatChunk(finish_reason="stop", usage=final.usage, response=final)

    async def aclose(self) -> None:
        return None


def bare(deployments: object, **options: object) -> llmprod.AsyncClient:
    return llmprod.AsyncClient(deployments, retry=None, breaker=None, **options)  # type: ignore[arg-type]


async def test_chat_on_the_default_simulated_provider() -> None:
    async with llmprod.AsyncClient(llmprod.Simulated(latency=FAST), retry=None, breaker=None) as client:
        r = await client.chat("hello", max_tokens=5)
    assert r.finish_reason == "length"
    assert r.usage.completion_tokens == 5
    assert len(r.text.split()) == 5
    assert r.latency > 0
    assert r.attempts == 1
    assert [a.outcome for a in r.attempt_log] == ["ok"]


async def test_simulated_answers_are_deterministic_per_prompt() -> None:
    async with bare(llmprod.Simulated(latency=FAST)) as client:
        a = await client.chat("same prompt")
        b = await client.chat("same prompt")
        c = await client.chat("another prompt")
    assert a.text == b.text
    assert a.text != c.text


async def test_stream_yields_text_then_a_final_chunk_with_the_response() -> None:
    async with bare(llmprod.Simulated(latency=FAST)) as client:
        chunks = [c async for c in client.stream("hello", max_tokens=8)]
        whole = await client.chat("hello", max_tokens=8)
    final = chunks[-1]
    assert final.response is not None
    assert final.finish_reason == "length"
    assert "".join(c.text for c in chunks) == whole.text == final.response.text
    assert final.response.ttft is not None and final.response.ttft <= final.response.latency


async def test_fallback_chain_moves_on_and_logs_each_attempt() -> None:
    broken = Scripted(llmprod.errors.ServerError("down", status=503, deployment="a"), name="a")
    healthy = Scripted("fine", name="b")
    async with bare([broken, healthy]) as client:
        r = await client.chat("x")
    assert r.text == "fine"
    assert [(a.deployment, a.outcome) for a in r.attempt_log] == [("a", "error"), ("b", "ok")]
    assert r.attempts == 2


async def test_non_retryable_error_is_raised_without_fallback() -> None:
    first = Scripted(llmprod.errors.AuthenticationError("bad key", status=401, deployment="a"), name="a")
    second = Scripted("never", name="b")
    async with bare([first, second]) as client:
        with pytest.raises(llmprod.errors.AuthenticationError):
            await client.chat("x")
    assert len(second.calls) == 0


async def test_all_failing_raises_all_backends_failed_with_every_cause() -> None:
    a = Scripted(llmprod.errors.ServerError("a down", status=500), name="a")
    b = Scripted(llmprod.errors.ProviderConnectionError("b reset"), name="b")
    async with bare([a, b]) as client:
        with pytest.raises(llmprod.AllBackendsFailedError) as info:
            await client.chat("x")
    assert [type(e) for e in info.value.errors] == [llmprod.errors.ServerError, llmprod.errors.ProviderConnectionError]


async def test_user_fallback_is_the_last_resort() -> None:
    def last_resort(request: ChatRequest, error: BaseException) -> str:
        return f"sorry ({type(error).__name__})"

    async with bare(Scripted(llmprod.errors.ServerError("down", status=500)), fallback=last_resort) as client:
        r = await client.chat("x")
    assert r.text == "sorry (ServerError)"
    assert r.deployment == "fallback"


async def test_last_resort_answers_timeouts_but_not_refusals() -> None:
    def last_resort(request: ChatRequest, error: BaseException) -> str:
        return "canned"

    timeout = Scripted(llmprod.errors.ProviderTimeoutError("slow"))
    async with bare(timeout, fallback=last_resort) as client:
        assert (await client.chat("x")).text == "canned"
    refusal = llmprod.BudgetExceededError("over budget", budget="client", limit=1.0, spent=1.0)
    async with bare(Scripted(refusal), fallback=last_resort) as client:
        with pytest.raises(llmprod.BudgetExceededError):
            await client.chat("x")


async def test_the_deadline_bounds_a_call_that_never_answers() -> None:
    async with bare(Scripted(30.0)) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(llmprod.DeadlineExceededError):
            await client.chat("x", timeout=0.2)
        assert loop.time() - started < 2.0


async def test_stream_broken_after_first_chunk_raises_interrupted_with_partial_text() -> None:
    async with bare(Scripted("one two BREAK three")) as client:
        received = []
        with pytest.raises(llmprod.StreamInterruptedError) as info:
            async for chunk in client.stream("x"):
                received.append(chunk.text)
    assert info.value.partial_text == "onetwoBREAK"
    assert isinstance(info.value.__cause__, llmprod.errors.ProviderConnectionError)


async def test_hooks_receive_call_and_attempt_events() -> None:
    events: list[object] = []
    async with bare(llmprod.Simulated(latency=FAST), hooks=[events.append]) as client:
        r = await client.chat("x")
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "CallStarted"
    assert "AttemptFinished" in kinds
    finished = [e for e in events if isinstance(e, llmprod.events.CallFinished)]
    assert finished[-1].response is not None and finished[-1].response.id == r.id


async def test_a_failing_hook_does_not_break_the_call(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("hook bug")

    async with bare(llmprod.Simulated(latency=FAST), hooks=[broken]) as client:
        r = await client.chat("x")
    assert r.text
    assert "hook" in caplog.text


async def test_closed_client_refuses_calls() -> None:
    client = bare(llmprod.Simulated(latency=FAST))
    await client.aclose()
    with pytest.raises(llmprod.LLMProdError):
        await client.chat("x")


async def test_batch_keeps_order_and_collects_errors() -> None:
    async with bare(llmprod.Simulated(latency=FAST)) as client:
        results = await client.batch(["a", "b", [{"role": "user", "content": "c"}]], concurrency=2)
        direct = await client.chat("b")
    assert [type(r) for r in results] == [ChatResponse] * 3
    assert isinstance(results[1], ChatResponse) and results[1].text == direct.text
    async with bare(Scripted(llmprod.errors.AuthenticationError("no", status=401))) as failing:
        errors = await failing.batch(["a", "b"])
    assert all(isinstance(e, llmprod.errors.AuthenticationError) for e in errors)


async def test_two_hundred_concurrent_calls() -> None:
    async with bare(llmprod.Simulated(latency=llmprod.backends.Latency(median=0.02, p99=0.05))) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(*(client.chat(f"q{i}") for i in range(200)))
        elapsed = loop.time() - started
    assert len({r.id for r in results}) == 200
    assert elapsed < 5.0  # concurrent, not 200 x 20 ms one after another
