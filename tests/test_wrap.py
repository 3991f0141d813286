"""llmprod.wrap with the real openai SDK, pointed at the loopback fault server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import llmprod
from llmprod.testing import Fault, FaultServer

openai = pytest.importorskip("openai")
from openai.types.chat import ChatCompletion, ChatCompletionChunk  # noqa: E402

MESSAGES = [{"role": "user", "content": "hello"}]
KEY = "sk-test-wrap-0000"


@pytest.fixture
def oai(sync_fault_server: FaultServer) -> Iterator[Any]:
    wrapped = llmprod.wrap(
        openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY),
        retry=llmprod.Retry(attempts=3, initial=0.01, maximum=0.02),
    )
    yield wrapped
    wrapped.close()


def test_is_the_sdks_own_client_with_its_own_types(oai: Any, sync_fault_server: FaultServer) -> None:
    assert isinstance(oai, openai.OpenAI) and type(oai).__name__ == "OpenAI"
    sync_fault_server.reply(text="wrapped answer")
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=10, temperature=0)
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == "wrapped answer"
    stream = oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200  # the SDK's Stream, with its .response
    assert all(isinstance(c, ChatCompletionChunk) for c in stream)


def test_streams_chunks_with_usage(oai: Any, sync_fault_server: FaultServer) -> None:
    sync_fault_server.reply(text="one two three")
    chunks = list(
        oai.chat.completions.create(model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert sync_fault_server.requests[-1].body["stream_options"] == {"include_usage": True}


def test_every_field_the_sdk_sends_reaches_the_server(oai: Any, sync_fault_server: FaultServer) -> None:
    oai.chat.completions.create(
        model="o3-mini",
        messages=MESSAGES,
        max_completion_tokens=10,
        n=2,
        logprobs=True,
        top_logprobs=2,
        seed=7,
        response_format={"type": "json_object"},
        parallel_tool_calls=False,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        extra_headers={"x-team": "search"},
        extra_query={"trace": "on"},
        extra_body={"top_k": 3},
    )
    seen = sync_fault_server.requests[-1]
    assert seen.headers["x-team"] == "search"
    assert seen.path == "/v1/chat/completions?trace=on"
    assert "max_tokens" not in seen.body and seen.body["max_completion_tokens"] == 10
    assert seen.body["n"] == 2 and seen.body["logprobs"] is True and seen.body["top_logprobs"] == 2
    assert seen.body["seed"] == 7 and seen.body["parallel_tool_calls"] is False and seen.body["top_k"] == 3


def test_every_field_the_server_sends_comes_back(oai: Any, sync_fault_server: FaultServer) -> None:
    completion = oai.chat.completions.create(
        model="m", messages=MESSAGES, n=2, logprobs=True, top_logprobs=1, service_tier="flex"
    )
    assert len(completion.choices) == 2 and completion.choices[1].index == 1
    assert completion.choices[0].logprobs is not None and completion.choices[0].logprobs.content
    assert completion.system_fingerprint == "fp_fault" and completion.service_tier == "flex"
    assert completion.created == 1_700_000_000
    assert completion.id == f"fault-{len(sync_fault_server.requests)}"  # the provider's id


def test_faults_are_retried_by_llmprod_exactly_as_configured(oai: Any, sync_fault_server: FaultServer) -> None:
    sync_fault_server.push(Fault.error(503), Fault.error(500))
    completion = oai.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert len(sync_fault_server.requests) == 3  # two failures + one success; the SDK added none
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-llmprod-attempts"] == "1" and raw.parse().choices


def test_exhausted_retries_raise_the_sdks_exception_with_the_providers_body(
    oai: Any, sync_fault_server: FaultServer
) -> None:
    sync_fault_server.always(Fault.error(503, "overloaded"))
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 503 and info.value.body["message"] == "overloaded"
    assert len(sync_fault_server.requests) == 3


def test_sdk_max_retries_becomes_llmprods(sync_fault_server: FaultServer) -> None:
    sync_fault_server.always(Fault.error(500))
    wrapped = llmprod.wrap(openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY, max_retries=0))
    with pytest.raises(openai.InternalServerError):
        wrapped.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sync_fault_server.requests) == 1
    wrapped.close()
    sync_fault_server.reset()
    sync_fault_server.always(Fault.error(500))
    wrapped = llmprod.wrap(
        openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY, max_retries=0),
        retry=llmprod.Retry(attempts=2, initial=0.01),  # given to wrap: it wins
    )
    with pytest.raises(openai.InternalServerError):
        wrapped.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sync_fault_server.requests) == 2
    wrapped.close()


def test_sdk_timeout_becomes_llmprods_attempt_timeout(sync_fault_server: FaultServer) -> None:
    wrapped = llmprod.wrap(openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY, timeout=7.0, max_retries=1))
    config = wrapped.llmprod.aio.config
    assert (config.timeout.attempt, config.timeout.stream_idle, config.retry.attempts) == (7.0, 7.0, 2)
    wrapped.close()


def test_a_connection_that_keeps_failing_is_the_sdks_connection_error(oai: Any, sync_fault_server: FaultServer) -> None:
    sync_fault_server.always(Fault.reset())
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sync_fault_server.requests) == 3


def test_non_retryable_status_is_tried_once_and_mapped(oai: Any, sync_fault_server: FaultServer) -> None:
    sync_fault_server.push(Fault.error(401, "bad key"))
    with pytest.raises(openai.AuthenticationError):
        oai.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sync_fault_server.requests) == 1


def test_errors_only_llmprod_raises_stay_llmprods(sync_fault_server: FaultServer) -> None:
    wrapped = llmprod.wrap(
        openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY),
        guards=llmprod.Guards(max_chars=5),
    )
    with pytest.raises(llmprod.InputRejectedError):
        wrapped.chat.completions.create(model="m", messages=[{"role": "user", "content": "far too long"}])
    assert sync_fault_server.requests == []
    wrapped.close()


def test_embeddings_go_through_the_stack(oai: Any, sync_fault_server: FaultServer) -> None:
    sync_fault_server.push(Fault.error(503))
    result = oai.embeddings.create(model="text-embedding-3-small", input=["a b", "c"], dimensions=4)
    assert len(result.data) == 2 and len(result.data[0].embedding) == 4
    assert len(sync_fault_server.requests) == 2  # retried by llmprod
    assert sync_fault_server.requests[-1].body["encoding_format"] == "base64"  # the SDK's own choice, kept
    stats = oai.llmprod.stats()
    assert stats.counts["retries"] == 1 and stats.overall.requests == 1


def test_embeddings_are_cached_and_redacted(sync_fault_server: FaultServer) -> None:
    wrapped = llmprod.wrap(
        openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY), cache=llmprod.Cache(), pii=llmprod.PII()
    )
    first = wrapped.embeddings.create(model="text-embedding-3-small", input="write to bob@example.com")
    again = wrapped.embeddings.create(model="text-embedding-3-small", input="write to bob@example.com")
    assert len(sync_fault_server.requests) == 1  # the second came from the cache
    assert sync_fault_server.requests[0].body["input"] == "write to [EMAIL]"
    assert again.model_dump() == first.model_dump()
    wrapped.close()


def test_responses_api_goes_through_the_stack(oai: Any, sync_fault_server: FaultServer) -> None:
    sync_fault_server.push(Fault.error(502))
    response = oai.responses.create(model="gpt-4o-mini", input="hello there", instructions="be brief")
    assert response.output_text and response.usage is not None
    assert len(sync_fault_server.requests) == 2
    events = list(oai.responses.create(model="gpt-4o-mini", input="hello there", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == events[-1].response.output_text


def test_pii_is_redacted_in_what_the_sdk_sends(sync_fault_server: FaultServer) -> None:
    wrapped = llmprod.wrap(openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY), pii=llmprod.PII())
    wrapped.chat.completions.create(
        model="m",
        messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "I am bob@example.com"}],
    )
    sent = sync_fault_server.requests[-1].body["messages"]
    assert sent == [{"role": "system", "content": "be nice"}, {"role": "user", "content": "I am [EMAIL]"}]
    wrapped.responses.create(model="m", input="call 415-555-0100 now")
    assert "415-555-0100" not in sync_fault_server.requests[-1].raw.decode()
    wrapped.close()


def test_a_cache_hit_is_the_same_sdk_object(sync_fault_server: FaultServer) -> None:
    wrapped = llmprod.wrap(openai.OpenAI(base_url=sync_fault_server.url, api_key=KEY), cache=llmprod.Cache())
    first = wrapped.chat.completions.create(model="m", messages=MESSAGES, n=2)
    raw = wrapped.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, n=2)
    assert raw.headers["x-llmprod-cached"] == "true" and raw.parse().model_dump() == first.model_dump()
    streamed = list(wrapped.chat.completions.create(model="m", messages=MESSAGES, n=2, stream=True))
    assert len(sync_fault_server.requests) == 1
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices and c.choices[0].index == 0) == (
        first.choices[0].message.content
    )
    wrapped.close()


def test_structured_output_parse_goes_through_the_stack(oai: Any, sync_fault_server: FaultServer) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):
        city: str

    sync_fault_server.push(Fault.error(503))
    sync_fault_server.reply(text='{"city": "Paris"}')
    parsed = oai.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    assert parsed.choices[0].message.parsed == Answer(city="Paris")
    assert len(sync_fault_server.requests) == 2


def test_other_endpoints_pass_through_with_the_sdks_own_retries(oai: Any, sync_fault_server: FaultServer) -> None:
    sync_fault_server.push(Fault.reset())  # the SDK retries the reset itself, as plain
    with pytest.raises(openai.APIStatusError) as info:
        oai.models.list()  # the fault server has no GET /models
    assert info.value.status_code == 405
    assert [r.path for r in sync_fault_server.requests] == ["/v1/models", "/v1/models"]
    assert oai.llmprod.stats().overall.requests == 0  # not through the stack


def test_key_is_not_in_the_wrappers_repr(oai: Any) -> None:
    assert KEY not in repr(oai) and KEY not in repr(oai.llmprod)


async def test_async_client_is_wrapped_too(fault_server: FaultServer) -> None:
    fault_server.push(Fault.error(502))
    oai = llmprod.wrap(
        openai.AsyncOpenAI(base_url=fault_server.url, api_key=KEY), retry=llmprod.Retry(attempts=2, initial=0.01)
    )
    assert isinstance(oai, openai.AsyncOpenAI)
    completion = await oai.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(completion, ChatCompletion)
    stream = await oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    chunks = [c async for c in stream]
    assert chunks and all(isinstance(c, ChatCompletionChunk) for c in chunks)
    embedded = await oai.embeddings.create(model="e", input="x")
    assert embedded.data
    assert len(fault_server.requests) == 4
    await oai.close()


async def test_async_stream_closed_early_closes_the_call(fault_server: FaultServer) -> None:
    oai = llmprod.wrap(openai.AsyncOpenAI(base_url=fault_server.url, api_key=KEY))
    async with await oai.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        async for _ in stream:
            break
    await oai.close()
    assert oai.llmprod.stats().overall.requests == 1


def test_wrap_refuses_other_objects() -> None:
    with pytest.raises(TypeError):
        llmprod.wrap(object())
