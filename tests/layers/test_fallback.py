"""The fallback layer: which errors move a call on to the next deployment, in order, with
every attempt kept; and in a stream, only before the first chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import llmprod
from llmprod import (
    AllBackendsFailedError,
    CircuitOpenError,
    DeadlineExceededError,
    Message,
    StreamInterruptedError,
)
from llmprod._core.call import attempts_of
from llmprod._core.events import Event, FallbackUsed
from llmprod.backends import ChatChunk, ChatRequest, ChatResponse, Usage
from llmprod.backends._http import status_error
from llmprod.errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyError,
    ContextWindowExceededError,
    ProviderConnectionError,
    ServerError,
)
from llmprod.layers import as_layer
from llmprod.layers.fallback import FALLBACK_ON, FallbackLayer, triggers
from llmprod.testing import FakeBackend

from .calls import answer, streamed

REQUEST = ChatRequest(messages=(Message("user", "hi"),))


def refusal() -> Exception:
    """A provider's content-policy refusal (a fresh one: a failed call notes its attempts on it)."""
    return status_error(400, "The response was filtered: content_filter", deployment="a", error_type="content_filter")


@pytest.mark.parametrize(
    ("exc", "moves_on"),
    [
        (ServerError("x", status=503), True),
        (ProviderConnectionError("reset"), True),
        (status_error(429, "slow down", deployment="a"), True),
        (CircuitOpenError("a"), True),
        (ContextWindowExceededError("too long", status=400), True),
        (refusal(), True),
        (ContentPolicyError("refused", status=400), True),
        (BadRequestError("bad", status=400), False),
        (AuthenticationError("key", status=401), False),
        (DeadlineExceededError("late"), False),
        (llmprod.BudgetExceededError("over", budget="b", limit=1.0, spent=1.0), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_what_moves_a_call_on(exc: BaseException, moves_on: bool) -> None:
    assert triggers(exc, FALLBACK_ON) is moves_on


def test_each_trigger_can_be_turned_off() -> None:
    assert not triggers(refusal(), ("retryable", "circuit_open", "context_window"))
    assert not triggers(CircuitOpenError("a"), ("retryable",))
    assert not triggers(ContextWindowExceededError("x", status=400), ("retryable",))
    assert not triggers(ServerError("x", status=500), ("circuit_open",))


def chain(*answers: object, on: tuple[str, ...] = FALLBACK_ON) -> tuple[FallbackLayer, list[FakeBackend], list[Event]]:
    events: list[Event] = []
    backends = [FakeBackend(lambda r, a=a: a, name=f"d{i}") for i, a in enumerate(answers)]  # type: ignore[misc]
    layer = FallbackLayer([as_layer(b) for b in backends], events.append, on=on)  # type: ignore[arg-type]
    return layer, backends, events


async def test_the_first_deployment_that_answers_wins_and_the_rest_are_not_asked() -> None:
    layer, (a, b), events = chain("from a", "from b")
    r = await answer(layer, REQUEST)
    assert r.text == "from a" and r.deployment == "d0"
    assert (len(a.requests), len(b.requests)) == (1, 0) and events == []


async def test_a_retryable_failure_moves_on_and_every_attempt_is_kept() -> None:
    layer, backends, events = chain(ServerError("down", status=503), CircuitOpenError("d1"), "from c")
    r = await answer(layer, REQUEST)
    assert r.text == "from c" and [len(b.requests) for b in backends] == [1, 1, 1]
    assert [(x.replica, x.outcome) for x in r.attempt_log] == [("d0", "error"), ("d1", "circuit_open"), ("d2", "ok")]
    used = [e for e in events if isinstance(e, FallbackUsed)]
    assert [(e.failed, e.next, e.error) for e in used] == [
        ("d0", "d1", "ServerError"),
        ("d1", "d2", "CircuitOpenError"),
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_a_content_policy_refusal_falls_back(stream: bool) -> None:
    layer, (a, b), events = chain(refusal(), "a more lenient model")
    if stream:
        chunks = [c async for c in streamed(layer, REQUEST)]
        final = chunks[-1].response
        assert final is not None and "".join(c.text for c in chunks) == "a more lenient model"
    else:
        final = await answer(layer, REQUEST)
    assert final.text == "a more lenient model" and final.deployment == "d1"
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert [e.error for e in events if isinstance(e, FallbackUsed)] == ["ContentPolicyError"]


async def test_a_context_window_too_small_falls_back_to_a_longer_one() -> None:
    too_long = status_error(400, "This model's maximum context length is 8192 tokens", deployment="d0")
    layer, _, _ = chain(too_long, "long context")
    assert (await answer(layer, REQUEST)).text == "long context"


async def test_without_the_content_policy_trigger_the_refusal_reaches_the_caller() -> None:
    layer, (a, b), _ = chain(refusal(), "never", on=("retryable", "circuit_open", "context_window"))
    with pytest.raises(ContentPolicyError):
        await answer(layer, REQUEST)
    assert (len(a.requests), len(b.requests)) == (1, 0)


@pytest.mark.parametrize(
    "error",
    [BadRequestError("bad", status=400), AuthenticationError("key", status=401), DeadlineExceededError("late")],
    ids=lambda e: type(e).__name__,
)
async def test_a_callers_error_or_the_deadline_is_raised_at_once(error: Exception) -> None:
    layer, (a, b), events = chain(error, "never")
    with pytest.raises(type(error)):
        await answer(layer, REQUEST)
    assert (len(a.requests), len(b.requests)) == (1, 0) and events == []


async def test_when_every_deployment_fails_the_error_carries_each_cause_and_attempt() -> None:
    layer, _, _ = chain(ServerError("a down", status=503), ProviderConnectionError("b reset"), refusal())
    with pytest.raises(AllBackendsFailedError) as raised:
        await answer(layer, REQUEST)
    assert [type(e).__name__ for e in raised.value.errors] == [
        "ServerError",
        "ProviderConnectionError",
        "ContentPolicyError",
    ]
    assert [a.replica for a in attempts_of(raised.value)] == ["d0", "d1", "d2"]


async def test_a_stream_falls_back_before_its_first_chunk() -> None:
    layer, (a, b), _ = chain(ServerError("down", status=503), "whole answer from b")
    chunks = [c async for c in streamed(layer, REQUEST)]
    final = chunks[-1].response
    assert final is not None and final.text == "whole answer from b" == "".join(c.text for c in chunks)
    assert [x.replica for x in final.attempt_log] == ["d0", "d1"]
    assert (len(a.requests), len(b.requests)) == (1, 1)


class BreaksAfter:
    """A deployment whose stream sends ``words`` and then breaks."""

    def __init__(self, *words: str, name: str = "breaks") -> None:
        self.words = words
        self.name = name
        self.requests = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests += 1
        for word in self.words:
            yield ChatChunk(text=word)
        raise ProviderConnectionError("connection reset mid-stream", deployment=self.name)

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize("through", ["layer", "client"])
async def test_a_stream_broken_after_its_first_chunk_is_interrupted_not_continued_elsewhere(through: str) -> None:
    # After a chunk reached the caller, moving to another deployment would send the
    # answer again from its start (duplicated text) or splice two models' answers.
    breaking = BreaksAfter("one ", "two ")
    healthy = FakeBackend(lambda r: "uno dos tres", name="healthy")
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as raised:
        if through == "layer":
            layer = FallbackLayer([as_layer(breaking), as_layer(healthy)], lambda e: None)  # type: ignore[list-item]
            async for chunk in streamed(layer, REQUEST):
                received.append(chunk.text)
        else:
            async with llmprod.AsyncClient([breaking, healthy], retry=None, breaker=None) as client:  # type: ignore[list-item]
                async for chunk in client.stream("hi"):
                    received.append(chunk.text)
    assert received == ["one ", "two "]
    assert raised.value.partial_text == "one two "
    assert isinstance(raised.value.__cause__, ProviderConnectionError)
    assert healthy.requests == [] and breaking.requests == 1


async def test_close_closes_every_deployment() -> None:
    layer, backends, _ = chain("a", "b", "c")
    await layer.aclose()
    assert all(b.closed for b in backends)


async def test_usage_of_the_answering_deployment_is_reported() -> None:
    response = ChatResponse(id="x", text="ok", finish_reason="stop", usage=Usage(7, 3), model="m", deployment="d1")
    layer, _, _ = chain(ServerError("down", status=503), response)
    r = await answer(layer, REQUEST)
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (7, 3)
