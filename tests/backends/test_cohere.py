"""Cohere against the loopback fault server speaking the v2 chat API: success, streams,
usage (billed units and raw tokens), tool calls, every error status, bad provider output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import llmprod
from llmprod import ChatChunk, ConfigError, InvalidRequestError, Message, ProviderError, RateLimitedError, Usage
from llmprod._core.request import build_request
from llmprod.backends import ChatRequest
from llmprod.backends.cohere import Cohere, parse_usage
from llmprod.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    MalformedResponseError,
    NotFoundError,
    ProviderConnectionError,
    ProviderTimeoutError,
    ServerError,
)
from llmprod.testing import Fault, FaultServer
from tests.fixtures_secrets import COHERE_TEST_KEY as KEY

CALL = {"id": "weather_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
TOOL = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}


def ask(prompt: str = "hello there", **kwargs: Any) -> ChatRequest:
    return build_request(prompt, **kwargs)


@pytest.fixture
async def backend(fault_server: FaultServer) -> AsyncIterator[Cohere]:
    backend = Cohere(model="command-test", api_key=KEY, base_url=fault_server.base_url)
    yield backend
    await backend.aclose()


async def collect(backend: Cohere, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in backend.stream(request)]


async def test_complete_translates_the_request(backend: Cohere, fault_server: FaultServer) -> None:
    request = ChatRequest(
        messages=(Message("developer", "Be brief."), Message("user", "hello")),
        max_tokens=50,
        temperature=0.3,
        top_p=0.9,
        stop=("END",),
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        extra_body={"k": 5, "safety_mode": "STRICT"},
    )
    r = await backend.complete(request)
    assert len(r.text.split()) == 8 and r.finish_reason == "stop"
    assert (r.model, r.deployment, r.id) == ("command-test", "cohere:command-test", "fault-1")
    [sent] = fault_server.requests
    assert sent.path == "/v2/chat"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": "command-test",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        "stream": False,
        "max_tokens": 50,
        "temperature": 0.3,
        "p": 0.9,
        "stop_sequences": ["END"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        "k": 5,
        "safety_mode": "STRICT",
    }


async def test_usage_is_billed_units(backend: Cohere, fault_server: FaultServer) -> None:
    fault_server.reply("one two three", usage=Usage(prompt_tokens=12, completion_tokens=3))
    whole = await backend.complete(ask())
    final = (await collect(backend, ask()))[-1]
    assert whole.usage == Usage(prompt_tokens=12, completion_tokens=3)
    assert final.usage == whole.usage


def test_usage_falls_back_to_raw_tokens() -> None:
    raw = {"tokens": {"input_tokens": 20.0, "output_tokens": 4.0}}
    assert parse_usage(raw) == Usage(prompt_tokens=20, completion_tokens=4)
    both = {
        "billed_units": {"input_tokens": 12, "output_tokens": 4},
        "tokens": {"input_tokens": 20, "output_tokens": 4},
    }
    assert parse_usage(both) == Usage(prompt_tokens=12, completion_tokens=4)
    assert parse_usage(None) is None and parse_usage({"billed_units": {"search_units": 1}}) is None


async def test_stream(backend: Cohere, fault_server: FaultServer) -> None:
    fault_server.reply("one two three", finish_reason="length")
    chunks = await collect(backend, ask(max_tokens=3))
    assert [c.text for c in chunks[:-1]] == ["one ", "two ", "three"]
    final = chunks[-1]
    assert final.finish_reason == "length" and final.response is not None
    assert final.response.text == "one two three" and final.response.id == "fault-1"
    assert fault_server.requests[0].body["stream"] is True


@pytest.mark.parametrize(
    ("wire_reason", "ours"),
    [
        ("stop", "stop"),  # COMPLETE
        ("length", "length"),  # MAX_TOKENS
        ("tool_calls", "tool_calls"),  # TOOL_CALL
        ("stop_sequence", "stop"),  # STOP_SEQUENCE
        ("content_blocked", "content_filter"),  # older API versions
        ("some_future_reason", "some_future_reason"),
    ],
)
async def test_finish_reasons(backend: Cohere, fault_server: FaultServer, wire_reason: str, ours: str) -> None:
    fault_server.reply("fine", finish_reason=wire_reason)
    assert (await backend.complete(ask())).finish_reason == ours
    assert (await collect(backend, ask()))[-1].finish_reason == ours


@pytest.mark.parametrize(("wire_reason", "error"), [("error", ServerError), ("timeout", ProviderTimeoutError)])
async def test_failed_generations_raise(
    backend: Cohere, fault_server: FaultServer, wire_reason: str, error: type[Exception]
) -> None:
    fault_server.reply("partial", finish_reason=wire_reason)
    with pytest.raises(error):
        await backend.complete(ask())
    with pytest.raises(error):
        await collect(backend, ask())


async def test_tool_calls_round_trip(backend: Cohere, fault_server: FaultServer) -> None:
    request = ChatRequest(
        messages=(
            Message("user", "weather in Paris?"),
            Message("assistant", None, tool_calls=(CALL,)),
            Message("tool", "sunny", tool_call_id="weather_1"),
        ),
        tools=(TOOL,),
        tool_choice="required",
    )
    fault_server.reply("", finish_reason="tool_calls", tool_calls=[CALL])
    r = await backend.complete(request)
    assert (r.finish_reason, r.text, r.tool_calls) == ("tool_calls", "", (CALL,))
    body = fault_server.requests[0].body
    assert body["tools"] == [TOOL] and body["tool_choice"] == "REQUIRED"
    assert body["messages"][1:] == [
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "weather_1", "content": "sunny"},
    ]
    chunks = await collect(backend, request)
    final = chunks[-1].response
    assert final is not None and final.tool_calls == (CALL,)


async def test_tool_choice_auto_is_not_sent_and_a_named_tool_is_refused(
    backend: Cohere, fault_server: FaultServer
) -> None:
    await backend.complete(ask(tools=[TOOL], tool_choice="auto"))
    assert "tool_choice" not in fault_server.requests[0].body
    with pytest.raises(InvalidRequestError):
        await backend.complete(ask(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "weather"}}))


ERRORS = [
    (400, "invalid request: message must be at least 1 token long", BadRequestError, False),
    (400, "too many tokens: the total exceeds the model's context length", ContextWindowExceededError, False),
    (401, "invalid api token", AuthenticationError, False),
    (403, "this key may not use this model", AuthenticationError, False),
    (404, "model 'command-nope' not found", NotFoundError, False),
    (422, "unprocessable entity: bad tool schema", BadRequestError, False),
    (429, "You are using a Trial key, which is limited to 10 API calls / minute.", RateLimitedError, True),
    (498, "invalid api token", AuthenticationError, False),
    (499, "client closed request", ProviderError, False),
    (500, "internal server error", ServerError, True),
    (503, "service unavailable", ServerError, True),
    (504, "gateway timeout", ServerError, True),
]


@pytest.mark.parametrize(("status", "message", "error", "retryable"), ERRORS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_every_error_status(
    backend: Cohere,
    fault_server: FaultServer,
    status: int,
    message: str,
    error: type[Exception],
    retryable: bool,
    streaming: bool,
) -> None:
    fault_server.push(Fault.error(status, message, retry_after=3 if status == 429 else None))
    with pytest.raises(error) as info:
        if streaming:
            await collect(backend, ask())
        else:
            await backend.complete(ask())
    raised = info.value
    assert type(raised) is error
    assert getattr(raised, "status", None) == status and getattr(raised, "retryable", None) is retryable
    assert message in str(raised) and KEY not in str(raised) and KEY not in repr(raised)
    if status == 429:
        assert isinstance(raised, RateLimitedError) and raised.retry_after == 3.0


async def test_error_inside_a_200_stream(backend: Cohere, fault_server: FaultServer) -> None:
    fault_server.reply("one two three four")
    fault_server.push(Fault.in_stream("upstream model crashed", after=4))
    received: list[str] = []
    with pytest.raises(ServerError) as info:
        async for chunk in backend.stream(ask()):
            received.append(chunk.text)
    assert received == ["one ", "two "]  # message-start, content-start, 2 deltas: then the error
    assert "upstream model crashed" in str(info.value) and info.value.retryable


async def test_plain_text_error_body(backend: Cohere, fault_server: FaultServer) -> None:
    fault_server.push(Fault.error(502, body="Bad Gateway from the proxy"))
    with pytest.raises(ServerError) as info:
        await backend.complete(ask())
    assert "Bad Gateway from the proxy" in str(info.value)


async def test_malformed_body(backend: Cohere, fault_server: FaultServer) -> None:
    fault_server.push(Fault.garbage())
    with pytest.raises(MalformedResponseError):
        await backend.complete(ask())


async def test_unexpected_shape(backend: Cohere, fault_server: FaultServer) -> None:
    fault_server.push(Fault(body={"id": "x", "message": {"content": []}}))  # no finish_reason
    with pytest.raises(MalformedResponseError):
        await backend.complete(ask())
    fault_server.push(Fault(body={"id": "x", "finish_reason": "COMPLETE", "message": {"content": "text"}}))
    with pytest.raises(MalformedResponseError):
        await backend.complete(ask())


async def test_malformed_stream_frame(backend: Cohere, fault_server: FaultServer) -> None:
    fault_server.push(Fault.garbage(after=2))
    with pytest.raises(MalformedResponseError):
        await collect(backend, ask())


@pytest.mark.parametrize("fault", [Fault.cut(after=3), Fault.cut(after=3, drop="end")])
async def test_stream_without_message_end_is_a_broken_connection(
    backend: Cohere, fault_server: FaultServer, fault: Fault
) -> None:
    fault_server.push(fault)
    with pytest.raises(ProviderConnectionError):
        await collect(backend, ask())


async def test_through_the_client_retries_a_503(fault_server: FaultServer) -> None:
    backend = Cohere(model="command-test", api_key=KEY, base_url=fault_server.base_url)
    fault_server.push(Fault.error(503))
    async with llmprod.AsyncClient(backend, retry=llmprod.Retry(attempts=2, initial=0.0), telemetry=False) as client:
        r = await client.chat("hello", max_tokens=4)
    assert r.attempts == 2 and len(r.text.split()) == 4


def test_key_from_env_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CO_API_KEY", raising=False)
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    backend = Cohere(model="command-test")
    assert (
        repr(backend) == "Cohere(model='command-test', name='cohere:command-test', base_url='https://api.cohere.com')"
    )
    assert KEY not in repr(backend) and KEY not in repr(vars(backend))
    monkeypatch.delenv("COHERE_API_KEY")
    with pytest.raises(ConfigError):
        Cohere(model="command-test")
