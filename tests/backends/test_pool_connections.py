"""The pool never holds more than ``max_connections`` open at once, on both transports.

Counted at the server, without timing: ``peak_connections`` is the most connections open
at the same moment; ``connections`` counts every one ever accepted, so a pool that replaces
connections (closed by the server, or idle past the keep-alive expiry on a loaded machine)
adds to it without exceeding its limit. ``test_client_openai.py`` once held the total
against the limit and saw 101 under load: replacements, not a 101st concurrent connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from llmprod._core.models import ChatChunk
from llmprod._core.request import build_request
from llmprod.backends.openai import OpenAICompatible
from llmprod.testing import FaultServer

TRANSPORTS: dict[str, Callable[[int], httpx.AsyncBaseTransport]] = {
    "httpx": lambda limit: httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=limit)),
}
try:  # the optional extra "fast"
    from llmprod.backends._aiohttp_transport import AiohttpTransport

    TRANSPORTS["aiohttp"] = lambda limit: AiohttpTransport(max_connections=limit)
except ImportError:
    pass

LIMIT = 4
ASK = build_request("hello there")


def _backend(server: FaultServer, transport: str, **options: object) -> OpenAICompatible:
    return OpenAICompatible(
        base_url=server.url, model="m", max_connections=LIMIT, transport=TRANSPORTS[transport](LIMIT), **options
    )


async def _streamed(backend: OpenAICompatible) -> list[ChatChunk]:
    return [chunk async for chunk in backend.stream(ASK)]


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
async def test_concurrent_calls_share_at_most_max_connections(fault_server: FaultServer, transport: str) -> None:
    backend = _backend(fault_server, transport)
    try:
        answers = await asyncio.gather(*(backend.complete(ASK) for _ in range(40)))
        chunks = await asyncio.gather(*(_streamed(backend) for _ in range(20)))
    finally:
        await backend.aclose()
    assert len(answers) == 40 and all(c[-1].response is not None for c in chunks)
    assert len(fault_server.requests) == 60
    assert 1 <= fault_server.peak_connections <= LIMIT


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
async def test_replaced_connections_add_to_the_total_never_to_the_peak(
    fault_server: FaultServer, transport: str
) -> None:
    # Every answer closes its connection (the request asks for it), so each call needs a
    # new one: the server accepts one per call, but never more than the limit at once.
    backend = _backend(fault_server, transport, headers={"connection": "close"})
    try:
        await asyncio.gather(*(backend.complete(ASK) for _ in range(20)))
    finally:
        await backend.aclose()
    assert fault_server.connections == 20
    assert 1 <= fault_server.peak_connections <= LIMIT


async def test_the_pool_passes_its_limit_to_the_default_transport(fault_server: FaultServer) -> None:
    backend = OpenAICompatible(base_url=fault_server.url, model="m", max_connections=LIMIT)
    try:
        await asyncio.gather(*(backend.complete(ASK) for _ in range(30)))
    finally:
        await backend.aclose()
    assert 1 <= fault_server.peak_connections <= LIMIT
