"""A 200 whose body is malformed is a provider fault: one typed, retryable error
(MalformedResponseError), the same on chat and on stream, from every provider backend,
for each of the fault server's malformed answers; the client retries it and falls over."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import llmprod
from llmprod._core.request import build_request
from llmprod.backends.anthropic import Anthropic
from llmprod.backends.cohere import Cohere
from llmprod.backends.openai import OpenAICompatible
from llmprod.errors import MalformedResponseError
from llmprod.testing import Fault, FaultServer
from tests.fixtures_secrets import ANTHROPIC_TEST_KEY, COHERE_TEST_KEY

MALFORMED: dict[str, Fault] = {
    "garbage body or first frame": Fault.garbage(after=0),
    "garbage second frame": Fault.garbage(after=1),
    "JSON of another shape": Fault(body=b'{"unexpected": true}'),
    "a JSON list": Fault(body=b"[1, 2, 3]"),
    "a proxy's HTML page": Fault(body=b"<html><body>upstream sent nothing</body></html>"),
}
Make = Callable[[FaultServer], Any]
BACKENDS: dict[str, Make] = {
    "openai": lambda s: OpenAICompatible(base_url=s.url, model="m"),
    "anthropic": lambda s: Anthropic("m", api_key=ANTHROPIC_TEST_KEY, base_url=s.base_url),
    "cohere": lambda s: Cohere("m", api_key=COHERE_TEST_KEY, base_url=s.base_url),
}


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, fault_server: FaultServer) -> AsyncIterator[Any]:
    made = BACKENDS[request.param](fault_server)
    yield made
    await made.aclose()


async def _answer(backend: Any, mode: str) -> str:
    request = build_request("hello there")
    if mode == "chat":
        return str((await backend.complete(request)).text)
    return "".join([chunk.text async for chunk in backend.stream(request)])


@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_200_is_one_retryable_typed_error(
    backend: Any, fault_server: FaultServer, case: str, mode: str
) -> None:
    fault_server.push(MALFORMED[case])
    with pytest.raises(MalformedResponseError) as raised:
        await _answer(backend, mode)
    assert type(raised.value) is MalformedResponseError and raised.value.retryable
    assert llmprod.LLMProdError in type(raised.value).__mro__
    assert await _answer(backend, mode)  # the next answer is fine


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_the_client_retries_a_malformed_200(fault_server: FaultServer, mode: str) -> None:
    fault_server.push(Fault.garbage(after=0))
    backend = OpenAICompatible(base_url=fault_server.url, model="m")
    async with llmprod.AsyncClient(backend, retry=llmprod.Retry(attempts=2, initial=0), breaker=None) as client:
        if mode == "chat":
            text = (await client.chat("hello there")).text
        else:
            text = "".join([c.text async for c in client.stream("hello there")])
    assert text and len(fault_server.requests) == 2


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_a_malformed_200_falls_over_to_the_next_deployment(mode: str) -> None:
    async with FaultServer() as broken, FaultServer() as healthy:
        broken.always(Fault(body=b"<html>oops</html>"))
        deployments = [
            OpenAICompatible(base_url=broken.url, model="m", name="broken"),
            OpenAICompatible(base_url=healthy.url, model="m", name="healthy"),
        ]
        async with llmprod.AsyncClient(deployments, retry=None, breaker=None) as client:
            if mode == "chat":
                deployment = (await client.chat("hello there")).deployment
            else:
                final = [c async for c in client.stream("hello there")][-1].response
                assert final is not None
                deployment = final.deployment
    assert deployment == "healthy" and len(broken.requests) == 1
