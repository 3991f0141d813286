"""The HTTP/JSON edge: a request that JSON or UTF-8 cannot carry is refused with a typed
InvalidRequestError and never sent, on every provider backend and both HTTP transports.

``build_request`` refuses such input first; these requests are built by hand (as a layer
or a direct backend user could), to check that the edge holds on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from llmprod import ConfigError, InvalidRequestError
from llmprod._core.models import ChatRequest, Message
from llmprod._core.request import build_request
from llmprod.backends._http import HttpPool
from llmprod.backends._json_api import encode_json, post_json
from llmprod.backends.anthropic import Anthropic
from llmprod.backends.cohere import Cohere
from llmprod.backends.openai import OpenAICompatible, read_error
from llmprod.testing import FaultServer
from tests.fixtures_secrets import ANTHROPIC_TEST_KEY, COHERE_TEST_KEY

BASE = build_request("hello")
BAD_REQUESTS = {
    "lone surrogate": replace(BASE, messages=(Message("user", "caf\udce9"),)),
    "nan in extra_body": replace(BASE, extra_body={"top_k": float("nan")}),
    "inf in extra_body": replace(BASE, extra_body={"x": {"y": [float("-inf")]}}),
    "a set in extra_body": replace(BASE, extra_body={"ids": {1, 2}}),
    "surrogate in a tool": replace(BASE, tools=({"type": "function", "function": {"name": "f\ud800"}},)),
}


def _transports() -> dict[str, Callable[[], httpx.AsyncBaseTransport | None]]:
    found: dict[str, Callable[[], httpx.AsyncBaseTransport | None]] = {"httpx": httpx.AsyncHTTPTransport}
    try:
        from llmprod.backends._aiohttp_transport import AiohttpTransport

        found["aiohttp"] = AiohttpTransport
    except ImportError:  # the optional extra "fast" is not installed
        pass
    return found


TRANSPORTS = _transports()
Make = Callable[[FaultServer, httpx.AsyncBaseTransport | None], Any]
BACKENDS: dict[str, Make] = {
    "openai": lambda s, t: OpenAICompatible(base_url=s.url, model="m", transport=t),
    "anthropic": lambda s, t: Anthropic("m", api_key=ANTHROPIC_TEST_KEY, base_url=s.base_url),
    "cohere": lambda s, t: Cohere("m", api_key=COHERE_TEST_KEY, base_url=s.base_url),
}


@pytest.fixture(params=[(b, t) for b in sorted(BACKENDS) for t in sorted(TRANSPORTS) if b == "openai" or t == "httpx"])
async def backend(request: pytest.FixtureRequest, fault_server: FaultServer) -> AsyncIterator[Any]:
    name, transport = request.param
    made = BACKENDS[name](fault_server, TRANSPORTS[transport]())
    yield made
    await made.aclose()


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_unsendable_requests_are_refused_typed_and_unsent(
    backend: Any, fault_server: FaultServer, case: str, mode: str
) -> None:
    request: ChatRequest = BAD_REQUESTS[case]
    with pytest.raises(InvalidRequestError) as raised:
        if mode == "chat":
            await backend.complete(request)
        else:
            [chunk async for chunk in backend.stream(request)]
    assert raised.value.field == "request body"
    assert fault_server.requests == []
    assert (await backend.complete(BASE)).text  # the backend still works


def test_encoding_matches_what_httpx_would_send_for_good_bodies() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "naïve 東京"}], "n": 1.5, "ok": True}
    assert encode_json(body) == httpx.Request("POST", "http://x", json=body).content


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
@pytest.mark.parametrize(
    ("header", "error"),
    [("line\r\nbreak", InvalidRequestError), ("nul\x00", InvalidRequestError), ("café", ConfigError)],
    ids=["line break", "nul", "non-ASCII"],
)
async def test_a_header_that_cannot_be_written_is_a_typed_error(
    fault_server: FaultServer, transport: str, header: str, error: type[Exception]
) -> None:
    # The backends refuse such headers when built; the pool under them holds on its own
    # (another backend may build one directly).
    pool = HttpPool(base_url=fault_server.url, headers={"x-extra": header}, transport=TRANSPORTS[transport]())
    try:
        with pytest.raises(error):
            await post_json(pool, "/chat/completions", {"model": "m"}, deployment="d", read_error=read_error)
    finally:
        await pool.aclose()
    assert fault_server.requests == []


@pytest.mark.parametrize("header", ["line\r\nbreak", "café", 5])
def test_backends_refuse_such_headers_when_built(header: Any) -> None:
    with pytest.raises(ConfigError):
        OpenAICompatible(base_url="http://127.0.0.1:9/v1", model="m", headers={"x-extra": header})
