"""FakeBackend: a backend built from a function."""

from __future__ import annotations

import pytest

import llmprod
from llmprod import ChatResponse, Message, Usage
from llmprod.backends import ChatRequest
from llmprod.errors import ServerError
from llmprod.testing import FakeBackend

REQUEST = ChatRequest(messages=(Message(role="user", content="hi there"),))


async def test_a_string_becomes_a_response_and_requests_are_recorded() -> None:
    backend = FakeBackend(lambda request: "hello world", name="f")
    r = await backend.complete(REQUEST)
    assert (r.text, r.finish_reason, r.deployment) == ("hello world", "stop", "f")
    assert r.usage == Usage(prompt_tokens=2, completion_tokens=2)
    assert backend.requests == [REQUEST]


async def test_an_exception_is_raised_and_an_async_handler_awaited() -> None:
    async def handler(request: ChatRequest) -> ServerError:
        return ServerError("boom", status=503)

    backend = FakeBackend(handler)
    with pytest.raises(ServerError, match="boom"):
        await backend.complete(REQUEST)
    with pytest.raises(ServerError):
        [c async for c in backend.stream(REQUEST)]


async def test_stream_splits_words_and_ends_with_the_response() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    answer = ChatResponse(
        id="x", text="one two three", finish_reason="tool_calls", usage=Usage(1, 3), model="m", tool_calls=(call,)
    )
    chunks = [c async for c in FakeBackend(lambda r: answer).stream(REQUEST)]
    assert [c.text for c in chunks[:3]] == ["one ", "two ", "three"]
    final = chunks[-1].response
    assert final is not None
    assert (final.text, final.finish_reason, final.usage) == ("one two three", "tool_calls", Usage(1, 3))
    assert final.tool_calls == (call,)


async def test_works_under_the_client() -> None:
    backend = FakeBackend(lambda r: "ok")
    async with llmprod.AsyncClient(backend, retry=None, breaker=None, telemetry=False) as client:
        assert (await client.chat("hi")).text == "ok"
    assert backend.closed
