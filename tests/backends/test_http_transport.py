"""The fault matrix for both HTTP transports under the pool: aiohttp's (the default when
installed) and httpx's own. Each must keep the distinctions the resilience layers rely on:
never sent (ConnectError) vs sent and broken (ProviderConnectionError) vs too slow
(ProviderTimeoutError)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from llmprod._core.request import build_request
from llmprod.backends._http import HttpPool
from llmprod.backends.openai import OpenAICompatible
from llmprod.errors import ConnectError, ProviderConnectionError, ProviderTimeoutError, ServerError
from llmprod.testing import Fault, FaultServer, refused_url

Make = Callable[[], httpx.AsyncBaseTransport]
TRANSPORTS: dict[str, Make] = {"httpx": httpx.AsyncHTTPTransport}
try:  # the optional extra "fast"
    from llmprod.backends._aiohttp_transport import AiohttpTransport

    TRANSPORTS["aiohttp"] = AiohttpTransport
except ImportError:
    AiohttpTransport = None  # type: ignore[assignment,misc]


@pytest.fixture(params=sorted(TRANSPORTS))
def make(request: pytest.FixtureRequest) -> Make:
    return TRANSPORTS[request.param]


@pytest.fixture
async def backend(fault_server: FaultServer, make: Make) -> AsyncIterator[OpenAICompatible]:
    backend = OpenAICompatible(base_url=fault_server.url, model="m", read_timeout=0.5, transport=make())
    yield backend
    await backend.aclose()


ASK = build_request("hello there")


async def test_answer_and_stream(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    r = await backend.complete(ASK)
    assert r.finish_reason == "stop" and len(r.text.split()) == 8
    chunks = [c async for c in backend.stream(ASK)]
    assert chunks[-1].response is not None and chunks[-1].response.text == r.text
    [plain, streamed] = fault_server.requests
    assert plain.headers["content-type"] == "application/json" and streamed.body["stream"] is True


async def test_connect_refused_is_a_connect_error(make: Make) -> None:
    backend = OpenAICompatible(base_url=refused_url(), model="m", transport=make())
    with pytest.raises(ConnectError):
        await backend.complete(ASK)
    await backend.aclose()


@pytest.mark.parametrize("fault", [Fault.reset(), Fault.reset(after=20), Fault.cut(after=0)], ids=str)
async def test_broken_after_sending_is_not_a_connect_error(
    backend: OpenAICompatible, fault_server: FaultServer, fault: Fault
) -> None:
    fault_server.push(fault)
    with pytest.raises(ProviderConnectionError) as raised:
        await backend.complete(ASK)
    assert type(raised.value) is ProviderConnectionError  # maybe billed: never a ConnectError


@pytest.mark.parametrize("fault", [Fault.reset(after=3), Fault.cut(after=3)], ids=["reset", "closed"])
async def test_stream_broken_midway(backend: OpenAICompatible, fault_server: FaultServer, fault: Fault) -> None:
    fault_server.push(fault)
    received = []
    with pytest.raises(ProviderConnectionError) as raised:
        async for chunk in backend.stream(ASK):
            received.append(chunk.text)
    assert type(raised.value) is ProviderConnectionError and received


async def test_read_timeout_is_a_timeout(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    fault_server.push(Fault.hanging(), Fault.slow(chunk_delay=5))
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        await backend.complete(ASK)
    with pytest.raises(ProviderTimeoutError):
        async for _ in backend.stream(ASK):
            pass
    assert time.monotonic() - started < 8


async def test_a_kept_alive_connection_the_server_closed_is_replaced(
    backend: OpenAICompatible, fault_server: FaultServer
) -> None:
    await backend.complete(ASK)
    fault_server.push(Fault.error(503, close=True))
    with pytest.raises(ServerError):
        await backend.complete(ASK)
    for _ in range(3):
        assert (await backend.complete(ASK)).finish_reason == "stop"
    assert len(fault_server.requests) == 5  # each request reached the server once


async def test_a_compressed_body_is_decoded_once(backend: OpenAICompatible, fault_server: FaultServer) -> None:
    body = {"id": "z", "choices": [{"message": {"content": "squeezed"}, "finish_reason": "stop"}]}
    fault_server.push(Fault(body=gzip.compress(json.dumps(body).encode()), headers={"content-encoding": "gzip"}))
    assert (await backend.complete(ASK)).text == "squeezed"


async def test_pool_picks_aiohttp_when_installed_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = HttpPool(base_url="http://127.0.0.1:1", headers={})
    default = AiohttpTransport or httpx.AsyncHTTPTransport
    assert isinstance(pool.get()._transport, default)
    await pool.aclose()
    monkeypatch.setenv("LLMPROD_HTTP_TRANSPORT", "httpx")
    pool = HttpPool(base_url="http://127.0.0.1:1", headers={})
    assert isinstance(pool.get()._transport, httpx.AsyncHTTPTransport)
    await pool.aclose()
    given = httpx.AsyncHTTPTransport()
    assert HttpPool(base_url="http://127.0.0.1:1", headers={}, transport=given).get()._transport is given
    await given.aclose()
