"""Anthropic against the loopback fault server speaking the Messages API: success, streams,
usage with cache tokens, tool use, every error type, and bad provider output."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import llmprod
from llmprod import ChatChunk, ConfigError, Message, ProviderError, RateLimitedError, Usage
from llmprod._core.request import build_request
from llmprod.backends import ChatRequest
from llmprod.backends.anthropic import Anthropic
from llmprod.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    MalformedResponseError,
    NotFoundError,
    ProviderConnectionError,
    ServerError,
)
from llmprod.testing import Fault, FaultServer, Reply, WireRequest
from llmprod.testing._wire_anthropic import WIRE as ANTHROPIC_WIRE
from tests.fixtures_secrets import ANTHROPIC_TEST_KEY as KEY

CALL = {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def ask(prompt: str = "hello there", **kwargs: Any) -> ChatRequest:
    return build_request(prompt, **kwargs)


@pytest.fixture
async def backend(fault_server: FaultServer) -> AsyncIterator[Anthropic]:
    backend = Anthropic(model="claude-test", api_key=KEY, base_url=fault_server.base_url)
    yield backend
    await backend.aclose()


async def collect(backend: Anthropic, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in backend.stream(request)]


async def test_complete_translates_the_request(backend: Anthropic, fault_server: FaultServer) -> None:
    request = ChatRequest(
        messages=(
            Message("system", "Be brief."),
            Message("developer", "Use French."),
            Message("user", "hello"),
            Message("user", "there"),
        ),
        temperature=0.3,
        top_p=0.9,
        stop=("END",),
        seed=7,  # no Messages API equivalent: not sent
        user="user-42",
        extra_body={"top_k": 5},
    )
    r = await backend.complete(request)
    assert len(r.text.split()) == 8 and r.finish_reason == "stop"
    assert (r.model, r.deployment, r.id) == ("claude-test", "anthropic:claude-test", "fault-1")
    [sent] = fault_server.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "claude-test",
        "system": "Be brief.\n\nUse French.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}]}
        ],
        "max_tokens": 1024,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "top_k": 5,
    }


async def test_usage_counts_cache_reads_and_writes(backend: Anthropic, fault_server: FaultServer) -> None:
    usage = Usage(prompt_tokens=100, completion_tokens=3, cached_tokens=60, cache_write_tokens=30)
    fault_server.reply("one two three", usage=usage)
    whole = await backend.complete(ask())
    chunks = await collect(backend, ask())
    final = chunks[-1]
    assert whole.usage == usage
    assert final.usage == usage and final.response is not None and final.response.usage == usage
    # On the wire, input_tokens excludes the cache reads and writes (Anthropic's split form):
    body = ANTHROPIC_WIRE.completion(WireRequest(model="m", prompt="p"), Reply(text="x", usage=usage))
    assert body["usage"] == {
        "input_tokens": 10,
        "cache_read_input_tokens": 60,
        "cache_creation_input_tokens": 30,
        "output_tokens": 3,
    }


async def test_stream(backend: Anthropic, fault_server: FaultServer) -> None:
    fault_server.reply("one two three", finish_reason="length")
    chunks = await collect(backend, ask(max_tokens=3))
    assert [c.text for c in chunks[:-1]] == ["one ", "two ", "three"]
    final = chunks[-1]
    assert final.finish_reason == "length" and final.response is not None
    assert final.response.text == "one two three"
    assert final.response.id == "fault-1" and final.response.model == "claude-test"
    assert fault_server.requests[0].body["stream"] is True
    assert fault_server.requests[0].body["max_tokens"] == 3


@pytest.mark.parametrize(
    ("wire_reason", "ours"),
    [
        ("stop", "stop"),  # end_turn
        ("stop_sequence", "stop"),
        ("length", "length"),  # max_tokens
        ("tool_calls", "tool_calls"),  # tool_use
        ("content_filter", "content_filter"),  # refusal
        ("pause_turn", "stop"),
        ("some_future_reason", "some_future_reason"),
    ],
)
async def test_stop_reasons(backend: Anthropic, fault_server: FaultServer, wire_reason: str, ours: str) -> None:
    fault_server.reply("fine", finish_reason=wire_reason)
    assert (await backend.complete(ask())).finish_reason == ours
    assert (await collect(backend, ask()))[-1].finish_reason == ours


async def test_tool_use_round_trip(backend: Anthropic, fault_server: FaultServer) -> None:
    request = ChatRequest(
        messages=(
            Message("user", "weather in Paris?"),
            Message("assistant", None, tool_calls=(CALL,)),
            Message("tool", "sunny", tool_call_id="toolu_1"),
        ),
        tools=(TOOL,),
        tool_choice={"type": "function", "function": {"name": "weather"}},
    )
    fault_server.reply("Let me check.", finish_reason="tool_calls", tool_calls=[CALL])
    r = await backend.complete(request)
    assert r.finish_reason == "tool_calls" and r.text == "Let me check."
    assert r.tool_calls == (CALL,)
    body = fault_server.requests[0].body
    assert body["tools"] == [
        {
            "name": "weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "weather"}
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ]
    chunks = await collect(backend, request)
    final = chunks[-1].response
    assert final is not None and final.tool_calls == (CALL,)
    assert any(c.tool_calls for c in chunks[:-1])


@pytest.mark.parametrize(
    ("choice", "sent"), [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})]
)
async def test_tool_choice_names(
    backend: Anthropic, fault_server: FaultServer, choice: str, sent: dict[str, str]
) -> None:
    await backend.complete(ask(tools=[TOOL], tool_choice=choice))
    assert fault_server.requests[0].body["tool_choice"] == sent


ERRORS = [
    (400, "invalid_request_error", "messages: field required", BadRequestError, False),
    (
        400,
        "invalid_request_error",
        "prompt is too long: 210000 tokens > 200000 maximum",
        ContextWindowExceededError,
        False,
    ),
    (401, "authentication_error", "invalid x-api-key", AuthenticationError, False),
    (402, "billing_error", "credit balance too low", ProviderError, False),
    (403, "permission_error", "no access to this model", AuthenticationError, False),
    (404, "not_found_error", "model: claude-nope", NotFoundError, False),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", BadRequestError, False),
    (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        RateLimitedError,
        True,
    ),
    (500, "api_error", "Internal server error", ServerError, True),
    (529, "overloaded_error", "Overloaded", ServerError, True),
]


@pytest.mark.parametrize(("status", "kind", "message", "error", "retryable"), ERRORS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_every_error_type(
    backend: Anthropic,
    fault_server: FaultServer,
    status: int,
    kind: str,
    message: str,
    error: type[Exception],
    retryable: bool,
    streaming: bool,
) -> None:
    fault_server.push(Fault.error(status, message, error_type=kind, retry_after=2 if status == 429 else None))
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
        assert isinstance(raised, RateLimitedError) and raised.retry_after == 2.0
    if isinstance(raised, ProviderError):
        assert raised.error_type == kind


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("overloaded_error", ServerError, 529),
        ("api_error", ServerError, 500),
        ("rate_limit_error", RateLimitedError, 429),
        ("invalid_request_error", BadRequestError, 400),
    ],
)
async def test_error_event_inside_a_200_stream(
    backend: Anthropic, fault_server: FaultServer, kind: str, error: type[Exception], status: int
) -> None:
    fault_server.reply("one two three four")
    fault_server.push(Fault.in_stream("trouble mid-stream", after=5, error_type=kind))
    received: list[str] = []
    with pytest.raises(error) as info:
        async for chunk in backend.stream(ask()):
            received.append(chunk.text)
    assert received == ["one ", "two "]  # message_start, ping, block start, 2 deltas: then the error
    assert "trouble mid-stream" in str(info.value) and getattr(info.value, "status", None) == status


async def test_malformed_body(backend: Anthropic, fault_server: FaultServer) -> None:
    fault_server.push(Fault.garbage())
    with pytest.raises(MalformedResponseError):
        await backend.complete(ask())


async def test_unexpected_shape(backend: Anthropic, fault_server: FaultServer) -> None:
    fault_server.push(Fault(body={"id": "msg_1", "type": "message", "content": "not a list"}))
    with pytest.raises(MalformedResponseError):
        await backend.complete(ask())
    fault_server.push(Fault(body=[1, 2, 3]))
    with pytest.raises(MalformedResponseError):
        await backend.complete(ask())


async def test_malformed_stream_frame(backend: Anthropic, fault_server: FaultServer) -> None:
    fault_server.push(Fault.garbage(after=3))
    with pytest.raises(MalformedResponseError):
        await collect(backend, ask())


@pytest.mark.parametrize("fault", [Fault.cut(after=4), Fault.cut(after=4, drop="end"), Fault.no_done()])
async def test_stream_without_message_stop_is_a_broken_connection(
    backend: Anthropic, fault_server: FaultServer, fault: Fault
) -> None:
    fault_server.push(fault)
    with pytest.raises(ProviderConnectionError):
        await collect(backend, ask())


async def test_connection_reset(backend: Anthropic, fault_server: FaultServer) -> None:
    fault_server.push(Fault.reset())
    with pytest.raises(ProviderConnectionError):
        await backend.complete(ask())


async def test_through_the_client_retries_an_overload(fault_server: FaultServer) -> None:
    backend = Anthropic(model="claude-test", api_key=KEY, base_url=fault_server.base_url)
    fault_server.push(Fault.error(529, error_type="overloaded_error"))
    async with llmprod.AsyncClient(backend, retry=llmprod.Retry(attempts=2, initial=0.0), telemetry=False) as client:
        r = await client.chat("hello", max_tokens=4)
    assert r.attempts == 2 and len(r.text.split()) == 4
    assert len(fault_server.requests) == 2


def test_key_from_env_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    backend = Anthropic(model="claude-test")
    assert (
        repr(backend)
        == "Anthropic(model='claude-test', name='anthropic:claude-test', base_url='https://api.anthropic.com')"
    )
    assert KEY not in repr(backend) and KEY not in repr(vars(backend))
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ConfigError):
        Anthropic(model="claude-test")


def test_image_parts_become_image_blocks() -> None:
    from llmprod.backends.anthropic import convert_messages

    parts = (
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    )
    system, messages = convert_messages((Message("user", parts),))
    assert system == ""
    assert messages[0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
    ]


def test_tool_arguments_that_are_not_json_are_refused() -> None:
    from llmprod.backends.anthropic import convert_messages

    bad = {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
    with pytest.raises(llmprod.InvalidRequestError):
        convert_messages((Message("user", "x"), Message("assistant", None, tool_calls=(bad,))))


def test_stream_error_json_is_parsed_from_the_event() -> None:
    from llmprod.backends.anthropic import stream_error

    data = json.loads('{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}')
    raised = stream_error(data, deployment="d")
    assert isinstance(raised, ServerError) and raised.status == 529 and raised.retryable
