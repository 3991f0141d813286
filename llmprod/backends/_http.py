"""HTTP for every provider backend: the one place httpx is imported and its errors seen.

- :class:`HttpPool` holds one pooled ``httpx.AsyncClient`` per backend, created lazily
  in the loop that first uses it (a pool is bound to its loop).
- :func:`map_http_errors` translates httpx's exceptions into llmprod's, most specific
  first, at this one edge.
- :func:`status_error` turns an HTTP error status and the provider's message into the
  typed error; :func:`parse_retry_after` reads ``retry-after-ms`` and ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import importlib.util
import math
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from .._core.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContentPolicyError,
    ContextWindowExceededError,
    NotFoundError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    ServerError,
)
from .._safety.secrets import scrub_secrets
from ._http_errors import MAX_ERROR_TEXT
from ._loop_bound import closed_with_loop

if TYPE_CHECKING:
    import httpx

    from ._aiohttp_direct import DirectPool

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``Retry-After`` (seconds or HTTP date).

    Returns None when absent or unreadable; never negative, never inf or nan.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(value, 0.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed is None:
            return None
        value = parsed.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(value):
        return None
    return max(value, 0.0)


_CONTEXT_HINTS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "too many tokens",
    "prompt is too long",  # Anthropic
    "maximum model length",  # vLLM
)
_POLICY_HINTS = ("content_policy", "content_filter", "content management policy", "safety")


def status_error(
    status: int,
    message: str,
    *,
    deployment: str,
    headers: Mapping[str, str] | None = None,
    error_type: str | None = None,
) -> ProviderError | RateLimitedError:
    """The typed error for an HTTP error ``status`` (the provider's ``message`` kept)."""
    retry_after = parse_retry_after(headers or {})
    # Some providers echo the key they were sent: scrub the whole message, then shorten it.
    message = scrub_secrets(message)[:MAX_ERROR_TEXT]
    text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    hint = f"{error_type or ''} {message}".lower()
    kwargs: dict[str, Any] = {
        "status": status,
        "deployment": deployment,
        "retry_after": retry_after,
        "error_type": error_type,
    }
    if status == 429 and error_type != "insufficient_quota":
        return RateLimitedError(text, source="provider", retry_after=retry_after, deployment=deployment, status=status)
    if status in (401, 403):
        return AuthenticationError(text, **kwargs)
    if status == 404:
        return NotFoundError(text, **kwargs)
    if status == 408:
        return ProviderTimeoutError(text, **kwargs)
    if status in (400, 413, 422):
        if any(h in hint for h in _CONTEXT_HINTS):
            return ContextWindowExceededError(text, **kwargs)
        if any(h in hint for h in _POLICY_HINTS):
            return ContentPolicyError(text, **kwargs)
        return BadRequestError(text, **kwargs)
    if status >= 500 or status == 529:
        return ServerError(text, **kwargs)
    # An exhausted quota (a 429 too) will not come back by waiting.
    retryable = status in RETRYABLE_STATUSES and error_type != "insufficient_quota"
    return ProviderError(text, retryable=retryable, **kwargs)


def fast_transport(max_connections: int) -> httpx.AsyncBaseTransport | None:
    """httpx's API over aiohttp's pool when aiohttp is installed (extra ``fast``), else None.

    httpx's own async pool is the bottleneck under concurrency (see docs/performance.md).
    ``LLMPROD_HTTP_TRANSPORT=httpx`` keeps httpx's own transport.
    """
    if os.environ.get("LLMPROD_HTTP_TRANSPORT", "").lower() == "httpx" or importlib.util.find_spec("aiohttp") is None:
        return None
    from ._aiohttp_transport import AiohttpTransport

    return AiohttpTransport(max_connections=max_connections)


class HttpPool:
    """A lazily created, pooled ``httpx.AsyncClient``, rebuilt if the loop changes."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        connect_timeout: float = 5.0,
        read_timeout: float | None = None,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.headers = dict(headers)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifetime: AsyncGenerator[None, None] | None = None
        self._urls: dict[str, httpx.URL] = {}
        self._direct: DirectPool | bool | None = transport is None  # True: not decided yet

    def set_header(self, name: str, value: str) -> None:
        """Send ``name: value`` on every later request (a token that changes), by both paths."""
        self.headers[name] = value
        if self._client is not None:
            self._client.headers[name] = value
        direct = self._direct
        if direct is not None and not isinstance(direct, bool):
            direct.headers[name] = value

    def direct(self) -> DirectPool | None:
        """aiohttp's pool used without httpx (extra ``fast``), when no httpx transport was
        given and ``LLMPROD_HTTP_TRANSPORT`` is not ``httpx``; else None (httpx's path)."""
        if self._direct is True:
            self._direct = None
            if os.environ.get("LLMPROD_HTTP_TRANSPORT", "").lower() != "httpx" and importlib.util.find_spec("aiohttp"):
                from ._aiohttp_direct import DirectPool

                self._direct = DirectPool(
                    base_url=self.base_url,
                    headers=self.headers,
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    max_connections=self.max_connections,
                )
        return self._direct or None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            import httpx

            try:
                headers = httpx.Headers(self.headers)
            except (UnicodeError, ValueError, TypeError):
                raise ConfigError("HTTP header values must be printable ASCII", path="headers") from None
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout),
                limits=httpx.Limits(
                    max_connections=self.max_connections, max_keepalive_connections=self.max_connections
                ),
                transport=self.transport or fast_transport(self.max_connections),
                follow_redirects=False,
            )
            if hasattr(self._client, "_cookies"):
                # Provider APIs set no cookies we would send back, and httpx parses every
                # response's headers for them through urllib: a large share of a call's CPU.
                self._client._cookies = _no_cookies()
            self._loop = loop
            self._lifetime = closed_with_loop(functools.partial(_close, self._client))
        return self._client

    def url(self, path: str) -> httpx.URL:
        """``path`` under the base URL, parsed once (httpx parses a str on every request)."""
        url = self._urls.get(path)
        if url is None:
            base = self.get().base_url  # ends in "/", as httpx joins it
            url = self._urls[path] = base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii"))
        return url

    async def aclose(self) -> None:
        client, self._client = self._client, None
        lifetime, self._lifetime = self._lifetime, None
        if client is not None and not client.is_closed:
            await client.aclose()
        direct = self._direct
        if direct is not None and not isinstance(direct, bool):
            await direct.aclose()
        if lifetime is not None:
            await lifetime.aclose()


async def _close(client: httpx.AsyncClient) -> None:
    if not client.is_closed:
        await client.aclose()


@functools.cache
def _cookieless_class() -> type[httpx.Cookies]:
    import httpx

    class Cookieless(httpx.Cookies):
        """A cookie jar that keeps nothing, so responses are not parsed for cookies."""

        def extract_cookies(self, response: httpx.Response) -> None:
            return None

    return Cookieless


def _no_cookies() -> httpx.Cookies:
    return _cookieless_class()()


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """Parse server-sent events: yields ``(event name or None, data)`` per event."""
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield event, "\n".join(data)
