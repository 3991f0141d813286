"""llmprod.wrap with the real openai SDK, pointed at the loopback fault server."""

from __future__ import annotations

import pytest

import llmprod
from llmprod.testing import Fault, FaultServer

openai = pytest.importorskip("openai")
from openai.types.chat import ChatCompletion, ChatCompletionChunk  # noqa: E402

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def oai(sync_fault_server: FaultServer):  # type: ignore[no-untyped-def]
    wrapped = llmprod.wrap(
        openai.OpenAI(base_url=sync_fault_server.url, api_key="sk-test-wrap-0000"),
        retry=llmprod.Retry(attempts=3, initial=0.01, maximum=0.02),
    )
    yield wrapped
    wrapped.close()


def test_returns_the_sdks_own_types(oai, sync_fault_server: FaultServer) -> None:  # type: ignore[no-untyped-def]
    sync_fault_server.reply(text="wrapped answer")
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=10, temperature=0)
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == "wrapped answer"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    body = sync_fault_server.requests[-1].body
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 10 and body["temperature"] == 0


def test_streams_chunks_with_usage(oai, sync_fault_server: FaultServer) -> None:  # type: ignore[no-untyped-def]
    sync_fault_server.reply(text="one two three")
    chunks = list(
        oai.chat.completions.create(model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    )
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_faults_are_retried_by_llmprod_exactly_as_configured(oai, sync_fault_server: FaultServer) -> None:  # type: ignore[no-untyped-def]
    sync_fault_server.push(Fault.error(503), Fault.error(500))
    completion = oai.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert len(sync_fault_server.requests) == 3  # two failures + one success; the SDK added none


def test_exhausted_retries_raise_the_sdks_exception(oai, sync_fault_server: FaultServer) -> None:  # type: ignore[no-untyped-def]
    sync_fault_server.always(Fault.error(503, "overloaded"))
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(info.value.__cause__, llmprod.LLMProdError)
    assert len(sync_fault_server.requests) == 3


def test_non_retryable_status_is_tried_once_and_mapped(oai, sync_fault_server: FaultServer) -> None:  # type: ignore[no-untyped-def]
    sync_fault_server.push(Fault.error(401, "bad key"))
    with pytest.raises(openai.AuthenticationError):
        oai.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sync_fault_server.requests) == 1


def test_unknown_sdk_arguments_travel_in_extra_body(oai, sync_fault_server: FaultServer) -> None:  # type: ignore[no-untyped-def]
    oai.chat.completions.create(model="m", messages=MESSAGES, logprobs=True, extra_body={"top_k": 3})
    body = sync_fault_server.requests[-1].body
    assert body["logprobs"] is True and body["top_k"] == 3


def test_non_chat_methods_pass_through_to_the_original_client(oai, sync_fault_server: FaultServer) -> None:  # type: ignore[no-untyped-def]
    assert oai.api_key == "sk-test-wrap-0000"
    with pytest.raises(openai.APIStatusError):
        oai.embeddings.create(model="e", input="x")  # the fault server does not serve embeddings
    assert sync_fault_server.requests[-1].path.endswith("/embeddings")


def test_key_is_not_in_the_wrappers_repr(oai) -> None:  # type: ignore[no-untyped-def]
    assert "sk-test-wrap-0000" not in repr(oai)


async def test_async_client_is_wrapped_too(fault_server: FaultServer) -> None:
    fault_server.push(Fault.error(502))
    oai = llmprod.wrap(
        openai.AsyncOpenAI(base_url=fault_server.url, api_key="sk-test-wrap-0000"),
        retry=llmprod.Retry(attempts=2, initial=0.01),
    )
    completion = await oai.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(completion, ChatCompletion)
    stream = await oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = [c async for c in stream]
    assert chunks and all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert len(fault_server.requests) == 3
    await oai.close()


def test_wrap_refuses_other_objects() -> None:
    with pytest.raises(TypeError):
        llmprod.wrap(object())
