"""llmprod.wrap with the real anthropic SDK and openai's Azure client, and the native Azure
backend, against the loopback fault server (which speaks Anthropic's and Azure's wires)."""

from __future__ import annotations

import pytest

import llmprod
from llmprod.testing import Fault, FaultServer

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")

KEY = "sk-ant-wrap-0000"
ASK = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}


def test_anthropic_is_the_sdks_own_client_and_retried_once_by_llmprod(sync_fault_server: FaultServer) -> None:
    sync_fault_server.push(Fault.error(529), Fault.error(500))
    claude = llmprod.wrap(
        anthropic.Anthropic(base_url=sync_fault_server.base_url, api_key=KEY),
        retry=llmprod.Retry(attempts=3, initial=0.01),
    )
    assert isinstance(claude, anthropic.Anthropic)
    message = claude.messages.create(**ASK)
    assert isinstance(message, anthropic.types.Message) and message.content[0].text
    assert len(sync_fault_server.requests) == 3  # the SDK's own two retries did not run on top
    headers = sync_fault_server.requests[-1].headers
    assert KEY in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
    claude.close()


def test_anthropic_stream_is_the_sdks_stream(sync_fault_server: FaultServer) -> None:
    claude = llmprod.wrap(anthropic.Anthropic(base_url=sync_fault_server.base_url, api_key=KEY))
    stream = claude.messages.create(**ASK, stream=True)
    assert isinstance(stream, anthropic.Stream)
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    with claude.messages.stream(**ASK) as helper:
        final = helper.get_final_message()
    assert final.content[0].text and final.usage.output_tokens > 0
    claude.close()


def test_anthropic_errors_are_the_sdks_and_pii_is_redacted(sync_fault_server: FaultServer) -> None:
    claude = llmprod.wrap(
        anthropic.Anthropic(base_url=sync_fault_server.base_url, api_key=KEY, max_retries=0), pii=llmprod.PII()
    )
    sync_fault_server.push(Fault.error(429, "slow down"))
    with pytest.raises(anthropic.RateLimitError) as info:
        claude.messages.create(**ASK)
    assert info.value.status_code == 429 and len(sync_fault_server.requests) == 1
    claude.messages.create(**{**ASK, "messages": [{"role": "user", "content": "I am bob@example.com"}]}, system="hi")
    assert sync_fault_server.requests[-1].body["messages"][0]["content"] == "I am [EMAIL]"
    claude.close()


async def test_async_anthropic(fault_server: FaultServer) -> None:
    fault_server.push(Fault.error(503))
    claude = llmprod.wrap(
        anthropic.AsyncAnthropic(base_url=fault_server.base_url, api_key=KEY), retry=llmprod.Retry(initial=0.01)
    )
    message = await claude.messages.create(**ASK)
    assert message.content and len(fault_server.requests) == 2
    stream = await claude.messages.create(**ASK, stream=True)
    assert [e.type async for e in stream][-1] == "message_stop"
    await claude.close()


def test_wrapped_azure_keeps_azures_wire(sync_fault_server: FaultServer) -> None:
    sync_fault_server.push(Fault.error(503))
    azure = llmprod.wrap(
        openai.AzureOpenAI(azure_endpoint=sync_fault_server.base_url, api_key="az-key", api_version="2024-10-21"),
        retry=llmprod.Retry(initial=0.01),
    )
    assert isinstance(azure, openai.AzureOpenAI)
    completion = azure.chat.completions.create(model="gpt4o-prod", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content
    seen = sync_fault_server.requests[-1]
    assert seen.path == "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    assert seen.headers["api-key"] == "az-key" and len(sync_fault_server.requests) == 2
    embedded = azure.embeddings.create(model="emb-prod", input="hi")
    assert embedded.data and sync_fault_server.requests[-1].path.startswith("/openai/deployments/emb-prod/embeddings")
    azure.close()


def test_wrapped_azure_with_an_entra_token_provider(sync_fault_server: FaultServer) -> None:
    tokens = iter(["token-1", "token-2"])
    azure = llmprod.wrap(
        openai.AzureOpenAI(
            azure_endpoint=sync_fault_server.base_url,
            azure_ad_token_provider=lambda: next(tokens),
            api_version="2024-10-21",
        )
    )
    for _ in range(2):
        azure.chat.completions.create(model="d", messages=[{"role": "user", "content": "hi"}])
    assert [r.headers["authorization"] for r in sync_fault_server.requests] == ["Bearer token-1", "Bearer token-2"]
    azure.close()


async def test_native_azure_backend(fault_server: FaultServer) -> None:
    fault_server.push(Fault.error(500))
    backend = llmprod.AzureOpenAI(endpoint=fault_server.base_url, deployment="gpt4o-prod", api_key="az-key")
    async with llmprod.AsyncClient(backend, retry=llmprod.Retry(initial=0.01)) as client:
        answer = await client.chat("hello")
        assert answer.text and answer.attempts == 2
        chunks = [c async for c in client.stream("hello")]
        assert chunks[-1].response is not None and chunks[-1].response.text
        vectors = await client.embed(["a", "b"])
        assert len(vectors.vectors) == 2
    paths = [r.path for r in fault_server.requests]
    assert paths[0] == "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    assert paths[-1] == "/openai/deployments/gpt4o-prod/embeddings?api-version=2024-10-21"
    assert all(r.headers["api-key"] == "az-key" and "authorization" not in r.headers for r in fault_server.requests)
    assert "az-key" not in repr(backend)


async def test_native_azure_entra_tokens_are_fetched_per_request(fault_server: FaultServer) -> None:
    fetched: list[str] = []

    async def token() -> str:
        fetched.append(f"t{len(fetched)}")
        return fetched[-1]

    backend = llmprod.AzureOpenAI(endpoint=fault_server.base_url, deployment="d", azure_ad_token_provider=token)
    async with llmprod.AsyncClient(backend) as client:
        await client.chat("a")
        await client.chat("b")
    assert [r.headers["authorization"] for r in fault_server.requests] == ["Bearer t0", "Bearer t1"]


async def test_the_fault_server_refuses_what_azure_refuses(fault_server: FaultServer) -> None:
    no_key = llmprod.AzureOpenAI(endpoint=fault_server.base_url, deployment="d", azure_ad_token="")
    async with llmprod.AsyncClient(no_key, retry=None) as client:
        with pytest.raises(llmprod.errors.AuthenticationError):
            await client.chat("hello")


def test_azure_config_errors() -> None:
    with pytest.raises(llmprod.ConfigError, match="deployment"):
        llmprod.AzureOpenAI(endpoint="https://x.openai.azure.com", deployment="", api_key="k")
    with pytest.raises(llmprod.ConfigError, match="one of"):
        llmprod.AzureOpenAI(endpoint="https://x.openai.azure.com", deployment="d", api_key="k", azure_ad_token="t")
