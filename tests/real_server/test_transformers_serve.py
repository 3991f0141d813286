"""OpenAICompatible against a real third-party server: ``transformers serve`` on CPU.

Run by the ``realserver`` nox session (``pytest tests/real_server``), not the default
one. The server serves the tiny model the tests build (see tests/fixtures_real_server.py).
What this server does, read from its source (transformers 5.x ``cli/serving``) and seen here:

- it never sends ``data: [DONE]``: a stream ends after the chunk with the finish reason
  and usage (it sends usage whether or not ``stream_options`` asks; it ignores that field);
- errors are FastAPI-shaped: ``{"detail": "..."}`` with 400 (a model other than the
  pinned one) or 422 (a field it does not know); a request it cannot handle (a negative
  ``max_tokens``, no messages, a ``generation_config`` that is not JSON) crashes the
  handler: 500 with a plain-text body, after which uvicorn drops the kept-alive
  connection;
- a stop string is kept at the end of the answer (OpenAI leaves it out).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import llmprod
from llmprod import AsyncClient, Message, OpenAICompatible, Retry
from llmprod.backends import ChatRequest
from llmprod.errors import BadRequestError, ServerError
from tests.fixtures_real_server import RealServer


@pytest.fixture
async def backend(real_server: RealServer) -> AsyncIterator[OpenAICompatible]:
    served = OpenAICompatible(base_url=real_server.base_url, model=real_server.model, name="transformers-serve")
    yield served
    await served.aclose()


def _client(backend: Any) -> AsyncClient:
    return AsyncClient(backend, retry=None, breaker=None, telemetry=False)


def _request(text: str = "hello there", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), **kwargs)


async def test_chat_reports_text_usage_and_finish_reason(backend: OpenAICompatible) -> None:
    async with _client(backend) as client:
        response = await client.chat("hello there", max_tokens=12, temperature=0)
    assert response.text
    assert response.finish_reason == "length"
    assert response.usage.completion_tokens == 12
    assert response.usage.prompt_tokens > 0 and not response.usage.estimated
    assert response.deployment == "transformers-serve"


async def test_stream_ends_without_done_and_carries_usage(backend: OpenAICompatible) -> None:
    async with _client(backend) as client:
        chunks = [c async for c in client.stream("hello there", max_tokens=10, temperature=0)]
    texts = [c.text for c in chunks[:-1] if c.text]
    final = chunks[-1]
    assert len(texts) > 1
    assert final.finish_reason == "length"
    assert final.usage is not None and final.usage.completion_tokens == 10
    assert final.response is not None and final.response.text == "".join(texts)


async def test_the_same_greedy_answer_streamed_and_not(backend: OpenAICompatible) -> None:
    whole = await backend.complete(_request(max_tokens=20, temperature=0))
    chunks = [c async for c in backend.stream(_request(max_tokens=20, temperature=0))]
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].usage == whole.usage


async def test_the_server_and_the_in_process_engine_agree(backend: OpenAICompatible, real_server: RealServer) -> None:
    engine = llmprod.Transformers(real_server.model, threads=1)
    try:
        local = await engine.complete(_request(max_tokens=16))
    finally:
        await engine.aclose()
    served = await backend.complete(_request(max_tokens=16, temperature=0))
    assert served.text == local.text  # same weights, same greedy decoding, two implementations
    assert served.usage.prompt_tokens == local.usage.prompt_tokens


async def test_concurrent_calls_all_succeed(backend: OpenAICompatible) -> None:
    answers = await asyncio.gather(*(backend.complete(_request(f"call {i}", max_tokens=4)) for i in range(4)))
    assert all(a.usage.completion_tokens == 4 for a in answers)


async def test_an_unknown_model_is_a_bad_request(backend: OpenAICompatible) -> None:
    with pytest.raises(BadRequestError) as info:
        await backend.complete(_request(model="no-such-model", max_tokens=4))
    assert info.value.status == 400
    assert "pinned" in str(info.value)  # FastAPI's {"detail": ...} body, read
    with pytest.raises(BadRequestError):  # refused before the stream starts
        async for _ in backend.stream(_request(model="no-such-model", max_tokens=4)):
            pass


async def test_an_unknown_field_is_a_bad_request(backend: OpenAICompatible) -> None:
    with pytest.raises(BadRequestError) as info:
        await backend.complete(_request(max_tokens=4, extra_body={"bogus_field": 1}))
    assert info.value.status == 422
    assert "bogus_field" in str(info.value)
    assert info.value.retryable is False


async def test_a_server_crash_is_a_retryable_server_error(backend: OpenAICompatible) -> None:
    with pytest.raises(ServerError) as info:  # the client would refuse this; the backend sends it
        await backend.complete(_request(max_tokens=-3))
    assert (info.value.status, info.value.retryable) == (500, True)
    assert "Internal Server Error" in str(info.value)  # a plain-text body


async def test_the_connection_it_drops_after_a_crash_is_retried(backend: OpenAICompatible) -> None:
    # After a 500 from a crashed handler, uvicorn closes the kept-alive connection; the
    # next request on it usually meets a reset (ProviderConnectionError, retryable):
    # the retry layer sends it again on a fresh connection.
    retry = Retry(attempts=3, initial=0.01, jitter=0)
    async with AsyncClient(backend, retry=retry, breaker=None, telemetry=False) as client:
        with pytest.raises(ServerError) as info:  # not JSON: the handler crashes, every attempt
            await client.chat("hello", max_tokens=3, extra_body={"generation_config": "{"})
        assert info.value.status == 500
        after = await client.chat("hello", max_tokens=3)
    assert after.usage.completion_tokens == 3
