"""OpenAICompatible against the loopback fault server: success, streams, every error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import llmprod
from llmprod import ChatChunk, ConfigError, ProviderError, RateLimitedError, Usage
from llmprod._core.request import build_request
from llmprod.backends import ChatRequest
from llmprod.backends.openai import PRESETS, OpenAICompatible, read_error, stream_error
from llmprod.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectError,
    ContentPolicyError,
    ContextWindowExceededError,
    MalformedResponseError,
    NotFoundError,
    ProviderConnectionError,
    ProviderTimeoutError,
    ServerError,
)
from llmprod.testing import Fault, FaultServer, refused_url

KEY = "sk-test-SECRET-0123456789"
CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}


def ask(prompt: str = "hello there", **kwargs: Any) -> ChatRequest:
    return build_request(prompt, **kwargs)


@pytest.fixture
async def backend(fault_server: FaultServer) -> AsyncIterator[OpenAICompatible]:
    backend = OpenAICompatible(base_url=fault_server.url, model="m", api_key=KEY)
    yield backend
    await backend.aclose()


async def collect(backend: OpenAICompatible, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in backend.stream(request)]


async def test_complete(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    r = await backend.complete(ask(max_tokens=50, temperature=0.5, extra_body={"top_k": 5}))
    assert len(r.text.split()) == 8 and r.finish_reason == "stop"
    assert r.usage == Usage(prompt_tokens=5, completion_tokens=8)
    assert (r.model, r.deployment) == ("m", backend.name)
    [sent] = fault_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": 50,
        "temperature": 0.5,
        "top_k": 5,
    }


async def test_request_model_overrides_and_finish_reason_length(backend: OpenAICompatible) -> None:
    r = await backend.complete(ask(model="other", max_tokens=2))
    assert (r.model, r.finish_reason, len(r.text.split())) == ("other", "length", 2)


async def test_stream_with_usage(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.reply("one two three", usage=Usage(prompt_tokens=9, completion_tokens=3, cached_tokens=4))
    chunks = await collect(backend, ask())
    assert [c.text for c in chunks[:-1]] == ["one ", "two ", "three"]
    final = chunks[-1].response
    assert final is not None and final.text == "one two three"
    assert final.usage == Usage(prompt_tokens=9, completion_tokens=3, cached_tokens=4)
    assert chunks[-1].finish_reason == "stop"
    assert fault_server.requests[0].body["stream_options"] == {"include_usage": True}


async def test_cached_tokens_in_a_plain_answer(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.reply("ok", usage=Usage(prompt_tokens=100, completion_tokens=1, cached_tokens=64))
    assert (await backend.complete(ask())).usage.cached_tokens == 64


async def test_tool_calls_pass_through_plain_and_streamed(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.reply(tool_calls=[CALL], finish_reason="tool_calls")
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    r = await backend.complete(ask(tools=tools))
    assert (r.text, r.finish_reason, r.tool_calls) == ("", "tool_calls", (CALL,))
    assert fault_server.requests[0].body["tools"] == tools
    chunks = await collect(backend, ask(tools=tools))
    assert any(c.tool_calls for c in chunks[:-1])
    final = chunks[-1].response
    assert final is not None and final.tool_calls == (CALL,) and final.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("fault", "error", "retryable"),
    [
        (Fault.error(400, "bad"), BadRequestError, False),
        (Fault.error(401, "bad key"), AuthenticationError, False),
        (Fault.error(403, "no access"), AuthenticationError, False),
        (Fault.error(404, "no such model"), NotFoundError, False),
        (Fault.error(408, "timeout"), ProviderTimeoutError, True),
        (Fault.error(409, "conflict"), ProviderError, True),
        (Fault.error(422, "unprocessable"), BadRequestError, False),
        (Fault.error(429, "slow down"), RateLimitedError, True),
        (Fault.error(500), ServerError, True),
        (Fault.error(502), ServerError, True),
        (Fault.error(503), ServerError, True),
        (Fault.error(504), ServerError, True),
        (Fault.error(529, "overloaded"), ServerError, True),
        (
            Fault.error(400, "maximum context length is 8192 tokens", code="context_length_exceeded"),
            ContextWindowExceededError,
            False,
        ),
        (Fault.error(400, "filtered", code="content_filter"), ContentPolicyError, False),
        (Fault.error(429, "quota", code="insufficient_quota", error_type="insufficient_quota"), ProviderError, False),
    ],
)
async def test_status_mapping(
    backend: OpenAICompatible, fault_server: FaultServer, fault: Fault, error: type[Exception], retryable: bool
) -> None:
    fault_server.push(fault, fault)
    with pytest.raises(error) as plain:
        await backend.complete(ask())
    with pytest.raises(error) as streamed:
        await collect(backend, ask())
    for raised in (plain.value, streamed.value):
        assert type(raised) is error
        assert raised.status == fault.status  # type: ignore[attr-defined]
        assert raised.retryable is retryable  # type: ignore[attr-defined]
        assert (fault.message or "") in str(raised)
        assert KEY not in str(raised) and KEY not in repr(raised)


async def test_retry_after_seconds_date_and_ms(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.push(Fault.error(429, retry_after=2), Fault.error(429, retry_after_ms=1500), Fault.error(429))
    with pytest.raises(RateLimitedError) as first:
        await backend.complete(ask())
    with pytest.raises(RateLimitedError) as second:
        await backend.complete(ask())
    with pytest.raises(RateLimitedError) as third:
        await backend.complete(ask())
    assert (first.value.retry_after, second.value.retry_after, third.value.retry_after) == (2.0, 1.5, None)
    assert first.value.source == "provider"


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault.error(404, body={"detail": "Model m not found"}), NotFoundError, "Model m not found"),
        (
            Fault.error(422, body={"detail": [{"loc": ["body", "x"], "msg": "field required"}]}),
            BadRequestError,
            "field required",
        ),
        (Fault.error(500, body={"message": "engine dead"}), ServerError, "engine dead"),
        (
            Fault.error(400, body={"object": "error", "message": "bad n", "type": "BadRequestError", "code": 400}),
            BadRequestError,
            "bad n",
        ),
        (
            Fault.error(422, body={"error": "Input validation error: too long", "error_type": "validation"}),
            BadRequestError,
            "too long",
        ),
        (Fault.error(502, body="<html>Bad Gateway</html>"), ServerError, "Bad Gateway"),
    ],
)
async def test_framework_shaped_error_bodies(
    backend: OpenAICompatible, fault_server: FaultServer, fault: Fault, error: type[Exception], message: str
) -> None:
    fault_server.push(fault)
    with pytest.raises(error, match=message):
        await backend.complete(ask())


async def test_error_event_inside_a_200_stream(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.push(Fault.in_stream("model crashed", after=3))
    received: list[ChatChunk] = []
    with pytest.raises(ServerError, match="model crashed") as raised:
        async for chunk in backend.stream(ask()):
            received.append(chunk)
    assert [c.text for c in received] and raised.value.retryable


def test_stream_error_mapping_table() -> None:
    vllm = {"error": {"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}}
    assert type(stream_error(vllm, deployment="d")) is BadRequestError
    limited = {"error": {"message": "slow", "type": "rate_limit_error"}}
    assert type(stream_error(limited, deployment="d")) is RateLimitedError
    assert type(stream_error({"error": "boom"}, deployment="d")) is ServerError
    assert read_error(500, None, "  plain  ") == ("plain", None)


async def test_stream_without_done_is_complete(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.push(Fault.no_done())
    final = (await collect(backend, ask()))[-1].response
    assert final is not None and len(final.text.split()) == 8 and final.usage.completion_tokens == 8


@pytest.mark.parametrize(
    "fault",
    [
        Fault.cut(after=3),
        Fault.cut(after=3, drop="end"),
        Fault.cut(after=3, drop="end", done=True),
        Fault.reset(after=3),
    ],
    ids=["closed", "ended", "ended-with-done", "reset"],
)
async def test_cut_stream_is_a_connection_error(
    backend: OpenAICompatible, fault_server: FaultServer, fault: Fault
) -> None:
    fault_server.push(fault)
    with pytest.raises(ProviderConnectionError) as raised:
        await collect(backend, ask())
    assert raised.value.retryable and type(raised.value) is ProviderConnectionError


async def test_malformed_json_and_unexpected_shapes(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.push(
        Fault.garbage(),
        Fault(body={"unexpected": True}),
        Fault(body={"choices": [{"message": "text"}]}),
        Fault(body="plain words"),
        Fault.garbage(after=2),
    )
    for _ in range(4):
        with pytest.raises(MalformedResponseError):
            await backend.complete(ask())
    with pytest.raises(MalformedResponseError):
        await collect(backend, ask())


async def test_connection_reset_before_the_response(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.push(Fault.reset(), Fault.reset(after=20))
    for _ in range(2):
        with pytest.raises(ProviderConnectionError) as raised:
            await backend.complete(ask())
        assert type(raised.value) is ProviderConnectionError  # sent: maybe billed, not a ConnectError
    assert (await backend.complete(ask())).finish_reason == "stop"


async def test_connection_closed_after_a_5xx_is_replaced(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    await backend.complete(ask())
    fault_server.push(Fault.error(503, close=True))
    with pytest.raises(ServerError):
        await backend.complete(ask())
    assert (await backend.complete(ask())).finish_reason == "stop"


async def test_connect_refused_is_a_connect_error() -> None:
    backend = OpenAICompatible(base_url=refused_url(), model="m")
    with pytest.raises(ConnectError) as raised:
        await backend.complete(ask())
    assert raised.value.retryable
    await backend.aclose()


async def test_slow_drip_stream_arrives_whole(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.push(Fault.slow(chunk_delay=0.01))
    final = (await collect(backend, ask()))[-1].response
    assert final is not None and len(final.text.split()) == 8


def test_key_never_in_repr_and_env_fallback_only_for_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    hosted = OpenAICompatible(model="gpt-4o-mini")
    assert repr(hosted) == "OpenAICompatible(model='gpt-4o-mini', base_url='https://api.openai.com/v1')"
    assert hosted._pool.headers["authorization"] == f"Bearer {KEY}"
    local = OpenAICompatible(model="m", base_url="http://gpu-1:8000/v1")
    assert "authorization" not in local._pool.headers
    assert (hosted.name, local.name) == ("openai:gpt-4o-mini", "gpu-1:8000:m")
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAICompatible(model="gpt-4o-mini")
    with pytest.raises(ConfigError, match="base_url"):
        OpenAICompatible(model="m", base_url="gpu-1:8000")


def test_presets() -> None:
    tgi = OpenAICompatible.preset("tgi")
    assert (tgi.model, tgi.base_url) == ("tgi", "http://localhost:8080/v1")
    ollama = OpenAICompatible.preset("ollama", model="llama3.2")
    assert ollama.base_url == "http://localhost:11434/v1"
    vllm = OpenAICompatible.preset("vllm", model="meta-llama/Llama-3.1-8B-Instruct", base_url="http://gpu-2:8000/v1")
    assert vllm.base_url == "http://gpu-2:8000/v1"
    assert set(PRESETS) >= {"openai", "vllm", "tgi", "tensorrt-llm", "ollama"}
    with pytest.raises(ConfigError, match="unknown preset"):
        OpenAICompatible.preset("nope", model="m")
    with pytest.raises(ConfigError, match="model"):
        OpenAICompatible.preset("ollama")


def test_lazy_top_level_name() -> None:
    assert llmprod.OpenAICompatible is OpenAICompatible


async def test_cookies_a_server_sets_are_neither_kept_nor_sent_back(
    backend: OpenAICompatible, fault_server: FaultServer
) -> None:
    fault_server.push(Fault(headers={"Set-Cookie": "session=abc123; Path=/"}))
    await backend.complete(ask())
    await backend.complete(ask())
    assert len(fault_server.requests) == 2
    assert "cookie" not in fault_server.requests[1].headers
