"""``base_url`` with ``user:password@``: HTTP Basic auth on both transports, or a typed error
where it would clash with the key; the password never shows in a name, repr, response,
error or log line."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import httpx
import pytest

import llmprod
from llmprod import ConfigError
from llmprod._core.request import build_request
from llmprod.backends.anthropic import Anthropic
from llmprod.backends.cohere import Cohere
from llmprod.backends.openai import OpenAICompatible
from llmprod.errors import ServerError
from llmprod.testing import Fault, FaultServer
from tests.fixtures_secrets import ANTHROPIC_TEST_KEY, COHERE_TEST_KEY, OPENAI_TEST_KEY

PASSWORD = "pa:ss@w/rd-8c1f"  # needs percent-encoding in a URL
QUOTED = "pa%3Ass%40w%2Frd-8c1f"
BASIC = "Basic " + base64.b64encode(f"gateway:{PASSWORD}".encode()).decode()

Make = Callable[[], httpx.AsyncBaseTransport]
TRANSPORTS: dict[str, Make] = {"httpx": httpx.AsyncHTTPTransport}
try:  # the optional extra "fast"
    from llmprod.backends._aiohttp_transport import AiohttpTransport

    TRANSPORTS["aiohttp"] = AiohttpTransport
except ImportError:
    pass


def with_credentials(server: FaultServer) -> str:
    return f"http://gateway:{QUOTED}@{server.host}:{server.port}/v1"


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
async def test_credentials_in_the_url_become_basic_auth_and_stay_hidden(
    fault_server: FaultServer, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = OpenAICompatible(base_url=with_credentials(fault_server), model="m", transport=TRANSPORTS[transport]())
    fault_server.push(None, None, Fault.error(503))
    async with llmprod.AsyncClient(backend, retry=None, breaker=None) as client:
        answer = await client.chat("hello")
        chunks = [c async for c in client.stream("hello")]
        with pytest.raises(ServerError) as failed:
            await client.chat("hello")
    assert [r.headers["authorization"] for r in fault_server.requests] == [BASIC] * 3
    assert backend.base_url == f"http://{fault_server.host}:{fault_server.port}/v1"
    final = chunks[-1].response
    assert final is not None
    shown = [backend.name, repr(backend), answer.deployment, final.deployment, str(failed.value), caplog.text]
    for text in shown:
        assert PASSWORD not in text and QUOTED not in text and "gateway:" not in text


@pytest.mark.parametrize(
    "make",
    [
        lambda url: OpenAICompatible(base_url=url, model="m", api_key=OPENAI_TEST_KEY),
        lambda url: OpenAICompatible(base_url=url, model="m", headers={"Authorization": "Bearer x"}),
        lambda url: OpenAICompatible.preset("vllm", base_url=url, model="m"),  # its placeholder key is a bearer
        lambda url: Cohere("m", api_key=COHERE_TEST_KEY, base_url=url.removesuffix("/v1")),
    ],
    ids=["api_key", "authorization header", "vllm preset", "cohere"],
)
def test_credentials_that_would_clash_with_the_key_are_a_config_error(make: Callable[[str], object]) -> None:
    with pytest.raises(ConfigError) as raised:
        make(f"http://gateway:{QUOTED}@127.0.0.1:8000/v1")
    assert raised.value.path is not None and raised.value.path.endswith("base_url")
    assert PASSWORD not in str(raised.value) and QUOTED not in str(raised.value)


async def test_anthropic_sends_basic_auth_to_a_gateway_beside_its_key(fault_server: FaultServer) -> None:
    url = f"http://gateway:{QUOTED}@{fault_server.host}:{fault_server.port}"
    backend = Anthropic("m", api_key=ANTHROPIC_TEST_KEY, base_url=url)
    try:
        answer = await backend.complete(build_request("hello"))
    finally:
        await backend.aclose()
    [sent] = fault_server.requests
    assert sent.headers["authorization"] == BASIC and sent.headers["x-api-key"] == ANTHROPIC_TEST_KEY
    assert PASSWORD not in repr(backend) + backend.name + answer.deployment + backend.base_url


@pytest.mark.parametrize(
    "url", [f"ftp://gateway:{QUOTED}@host/v1", f"http://gateway:{QUOTED}@host:99999/v1", f"http://gateway:{QUOTED}@"]
)
def test_a_bad_url_is_a_config_error_that_does_not_echo_it(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        OpenAICompatible(base_url=url, model="m")
    assert PASSWORD not in str(raised.value) and QUOTED not in str(raised.value)
