"""An ``httpx`` transport over aiohttp: httpx's API, aiohttp's connection pool.

httpx's own async pool (httpcore on anyio) tops out near 500 calls/s with a p99 of
half a second at 64 calls in flight on one core; aiohttp's pool serves about ten
times that. This transport keeps httpx as the API every backend speaks and moves
the sockets to aiohttp. :class:`~llmprod.backends._http.HttpPool` picks it when
aiohttp is installed (extra ``fast``).

Errors keep httpx's meaning, which :func:`~llmprod.backends._http_errors.map_http_errors`
depends on to tell "never sent" from "sent, maybe billed":

- the connection could not be made -> ``httpx.ConnectError`` / ``httpx.ConnectTimeout``;
- no byte within the read timeout -> ``httpx.ReadTimeout``;
- the connection broke after the request was sent (reset, closed, a truncated
  body) -> ``httpx.RemoteProtocolError`` / ``httpx.ReadError``, never a connect
  error (httpx-aiohttp 0.2.0 reports these as a connect timeout).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx

_CHUNK = 64 * 1024
_STALE_RETRIES = 2


@contextmanager
def mapped() -> Iterator[None]:
    """aiohttp's errors as httpx's, most specific first."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except aiohttp.SocketTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
    except aiohttp.ClientOSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise httpx.NetworkError(f"{type(exc).__name__}: {exc}") from exc


@contextmanager
def unsendable() -> Iterator[None]:
    """aiohttp refuses a request it cannot write (a line break in a header, an odd URL)
    with a bare ValueError, before sending anything: httpx calls that a local protocol error."""
    try:
        yield
    except aiohttp.ClientError:
        raise
    except (UnicodeError, ValueError) as exc:
        raise httpx.LocalProtocolError(f"{type(exc).__name__} while writing the request") from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with mapped():
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: Any,
    body: bytes,
    limits: aiohttp.ClientTimeout,
) -> aiohttp.ClientResponse:
    """One request on ``session``, sent again (at most twice) when a kept-alive connection
    turns out closed before a byte of it was written."""
    for tries_left in range(_STALE_RETRIES, -1, -1):
        try:
            return await session.request(
                method, url, headers=headers, data=body or None, allow_redirects=False, compress=False, timeout=limits
            )
        except aiohttp.ClientOSError as exc:
            # A kept-alive connection the server had just closed: aiohttp took it from the
            # pool before it saw the FIN, and could not write the request to it. Nothing
            # reached the server (httpcore checks for this before reuse), so sending again
            # on a fresh connection is safe, even a POST.
            if tries_left == 0 or not isinstance(exc.__cause__, aiohttp.ClientConnectionResetError):
                raise
    raise AssertionError("unreachable")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over one ``aiohttp.ClientSession`` (created in the loop that first uses it).

    ``max_connections`` bounds the pool; the connect and read timeouts come from the
    httpx client's ``Timeout``, per request. Bodies are passed through undecoded:
    httpx decodes ``content-encoding`` itself.
    """

    def __init__(self, *, max_connections: int = 100, keepalive_expiry: float = 15.0) -> None:
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=self.keepalive_expiry)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent", "Content-Type")
            )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        given = request.extensions.get("timeout") or {}
        key = (given.get("connect"), given.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:  # one object per distinct setting, not one per request
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1])
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._get_session()
        body = await request.aread()
        with mapped(), unsendable():
            response = await self._send(session, request, body)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def _send(
        self, session: aiohttp.ClientSession, request: httpx.Request, body: bytes
    ) -> aiohttp.ClientResponse:
        headers = request.headers.multi_items()
        return await send(session, request.method, str(request.url), headers, body, self._timeout(request))

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
