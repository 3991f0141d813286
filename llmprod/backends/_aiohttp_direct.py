"""JSON calls and event streams straight on aiohttp, without httpx in between.

When aiohttp is installed (extra ``fast``), ``post_json`` and ``open_sse`` send through
aiohttp's pool directly: the body is the bytes the backend encoded, the headers the
ones it set, and no httpx ``Request``/``Response`` is built — on a loopback server those
cost more than all of llmprod's layers together. httpx stays the API for anything else,
and the path taken when aiohttp is absent, when a backend is given an httpx transport,
or with ``LLMPROD_HTTP_TRANSPORT=httpx``.

Errors mean what they mean on the httpx path: aiohttp's are read through the same
table as the aiohttp transport's (:func:`~llmprod.backends._aiohttp_transport.mapped`),
then :func:`~llmprod.backends._http_errors.map_http_errors`, so "never sent" stays apart from
"sent, maybe billed", and a request that cannot be written is the caller's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager

import aiohttp

from ._aiohttp_transport import mapped, send, unsendable
from ._http_errors import map_http_errors
from ._loop_bound import closed_with_loop

_CHUNK = 64 * 1024


class DirectPool:
    """One ``aiohttp.ClientSession`` per event loop, for one base URL and its headers."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        connect_timeout: float,
        read_timeout: float | None,
        max_connections: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.max_connections = max_connections
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifetime: AsyncGenerator[None, None] | None = None

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=15.0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # provider APIs set no cookie we would send back
                skip_auto_headers=("User-Agent",),
            )
            self._loop = loop
            self._lifetime = closed_with_loop(self._session.close)  # closed with its loop
        return self._session

    async def post(self, path: str, content: bytes, *, deployment: str) -> tuple[int, Mapping[str, str], str]:
        """POST ``content``: the status, the headers and the body's text."""
        with errors(deployment):
            response = await send(self.session(), "POST", self.base_url + path, self.headers, content, self.timeout)
            async with response:
                text = await response.text(errors="replace")
        return response.status, response.headers, text

    @asynccontextmanager
    async def stream(self, path: str, content: bytes, *, deployment: str) -> AsyncIterator[Streamed]:
        """POST ``content`` and hold the answer open, its body unread."""
        with errors(deployment):
            response = await send(self.session(), "POST", self.base_url + path, self.headers, content, self.timeout)
        try:
            yield Streamed(response, deployment)
        finally:
            response.release()

    async def aclose(self) -> None:
        session, self._session = self._session, None
        lifetime, self._lifetime = self._lifetime, None
        if session is not None and not session.closed:
            await session.close()
        if lifetime is not None:
            await lifetime.aclose()


class Streamed:
    """An answer whose body is read as it comes: whole (an error), or line by line."""

    def __init__(self, response: aiohttp.ClientResponse, deployment: str) -> None:
        self.response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self._deployment = deployment

    async def read_text(self) -> str:
        with reading(self._deployment):
            return await self.response.text(errors="replace")

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, without their line breaks (any length: not aiohttp's 64 KB
        line limit, which a large tool call's event would pass)."""
        pending = b""
        with reading(self._deployment):
            async for chunk in self.response.content.iter_any():
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.rstrip(b"\r").decode("utf-8", "replace")
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", "replace")


@contextmanager
def errors(deployment: str) -> Iterator[None]:
    """Sending: aiohttp's errors as llmprod's, through the same tables as the httpx path
    (a request aiohttp cannot write is the caller's error: nothing was sent)."""
    with map_http_errors(deployment), mapped(), unsendable():
        yield


@contextmanager
def reading(deployment: str) -> Iterator[None]:
    """Reading an answer: the transport's errors only (a caller's own errors pass)."""
    with map_http_errors(deployment), mapped():
        yield
