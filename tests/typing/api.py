"""Type-checked by mypy --strict in `nox -s typecheck`; NOT meant to be executed.

It uses the public API the way users do, so that a change to a public signature that
breaks users' type checks breaks ours first.
"""

from __future__ import annotations

from typing import assert_type

import llmprod


def sync_usage() -> None:
    client = llmprod.Client(
        [llmprod.Simulated("sim-small"), llmprod.OpenAICompatible(model="gpt-4o-mini", api_key="k")],
        retry=llmprod.Retry(attempts=3),
        breaker=llmprod.Breaker(fail_max=5, reset_timeout=30),
        cache=llmprod.Cache(ttl=3600),
        pii=llmprod.PII(mode="pseudonymize"),
        budget=llmprod.Budget(hard=10.0),
    )
    r: llmprod.ChatResponse = client.chat("hi", max_tokens=20)
    text: str = r.text
    usage: llmprod.Usage = r.usage
    cost: float | None = r.cost
    cached: bool = r.cached
    for chunk in client.stream("hi"):
        piece: str = chunk.text
    client.close()
    del text, usage, cost, cached, piece


async def async_usage() -> None:
    async with llmprod.AsyncClient(llmprod.Simulated()) as client:
        r = await client.chat(messages=[{"role": "user", "content": "hi"}], temperature=0.2)
        attempts: int = r.attempts
        async for chunk in client.stream("hi"):
            final: llmprod.ChatResponse | None = chunk.response
        del attempts, final


def errors() -> None:
    try:
        pass
    except llmprod.RateLimitedError as exc:
        after: float | None = exc.retry_after
        del after
    except llmprod.LLMProdError as exc:
        message: str = str(exc)
        del message


def embeddings() -> None:
    client = llmprod.Client(llmprod.OpenAICompatible(model="text-embedding-3-small", api_key="k"))
    r = client.embed(["a", "b"], dimensions=256, tags={"team": "search"})
    assert_type(r, llmprod.EmbedResponse)
    first: tuple[float, ...] = r.vectors[0]
    cost: float | None = r.cost
    client.close()
    del first, cost


async def async_embeddings() -> None:
    async with llmprod.AsyncClient(llmprod.AzureOpenAI(endpoint="https://x", deployment="d", api_key="k")) as client:
        r = await client.embed("a")
        assert_type(r, llmprod.EmbedResponse)


def wrapped_sdks() -> None:
    import anthropic
    import openai

    oai = llmprod.wrap(openai.OpenAI(api_key="k"), cache=llmprod.Cache())
    assert_type(oai, openai.OpenAI)  # wrap keeps the SDK client's type
    completion = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    text: str | None = completion.choices[0].message.content
    assert_type(
        llmprod.wrap(openai.AsyncAzureOpenAI(api_key="k", api_version="v", azure_endpoint="e")), openai.AsyncAzureOpenAI
    )
    claude = llmprod.wrap(anthropic.Anthropic(api_key="k"))
    assert_type(claude, anthropic.Anthropic)
    del text
