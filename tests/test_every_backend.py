"""The same client.chat / client.stream call works unchanged over every backend.

HTTP providers run against the loopback fault server in their own wire formats; the vLLM
and transformers engines on tiny models built offline (skipped where vLLM, torch or
transformers is not installed: the `vllm` and `realserver` nox sessions run them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import llmprod
from llmprod.testing import FaultServer


def _simulated(server: FaultServer, request: pytest.FixtureRequest) -> llmprod.backends.Backend:
    return llmprod.Simulated("sim-small", latency=llmprod.backends.Latency(median=0.001, p99=0.002))


def _openai(server: FaultServer, request: pytest.FixtureRequest) -> llmprod.backends.Backend:
    return llmprod.OpenAICompatible(base_url=server.url, model="gpt-4o-mini", api_key="sk-test-every-0001")


def _anthropic(server: FaultServer, request: pytest.FixtureRequest) -> llmprod.backends.Backend:
    return llmprod.Anthropic(base_url=server.base_url, model="claude-3-5-haiku-latest", api_key="sk-test-every-0002")


def _cohere(server: FaultServer, request: pytest.FixtureRequest) -> llmprod.backends.Backend:
    return llmprod.Cohere(base_url=server.base_url, model="command-r", api_key="sk-test-every-0003")


def _vllm(server: FaultServer, request: pytest.FixtureRequest) -> llmprod.backends.Backend:
    path = request.getfixturevalue("tiny_vllm_model")
    return llmprod.VLLM(str(path), gpu_memory_utilization=0.1, max_model_len=2048, dtype="float32")


def _transformers(server: FaultServer, request: pytest.FixtureRequest) -> llmprod.backends.Backend:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    path = request.getfixturevalue("tiny_model")
    return llmprod.Transformers(str(path), max_batch_size=4)


BACKENDS: dict[str, Callable[[FaultServer, pytest.FixtureRequest], llmprod.backends.Backend]] = {
    "simulated": _simulated,
    "openai": _openai,
    "anthropic": _anthropic,
    "cohere": _cohere,
    "vllm": _vllm,
    "transformers": _transformers,
}


@pytest.fixture(params=sorted(BACKENDS))
async def client(request: pytest.FixtureRequest, fault_server: FaultServer) -> AsyncIterator[llmprod.AsyncClient]:
    backend = BACKENDS[request.param](fault_server, request)
    async with llmprod.AsyncClient(backend) as c:
        await c.start()  # an engine loads its model here, not within the first call's deadline
        yield c


async def test_the_same_chat_call_works_on_every_backend(client: llmprod.AsyncClient) -> None:
    kwargs: dict[str, Any] = {"max_tokens": 8, "temperature": 0}
    r = await client.chat(
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}], **kwargs
    )
    assert isinstance(r, llmprod.ChatResponse)
    assert r.text
    assert r.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.attempts == 1 and r.attempt_log[0].outcome == "ok"


async def test_the_same_stream_call_works_on_every_backend(client: llmprod.AsyncClient) -> None:
    chunks = [c async for c in client.stream("hello", max_tokens=8, temperature=0)]
    final = chunks[-1].response
    assert final is not None
    assert "".join(c.text for c in chunks) == final.text
    assert final.text
    assert final.usage.completion_tokens > 0
