"""JSON-over-HTTP plumbing shared by the native provider backends (Anthropic, Cohere).

Each backend brings its own request and response shapes and an ``ErrorReader`` that
pulls the provider's message and error type out of an error body; this module does
the POST, the status check, the JSON decoding and the server-sent-event loop, with
httpx's errors translated by :func:`map_http_errors`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from .._core.errors import InvalidRequestError, MalformedResponseError, ProviderError, RateLimitedError
from ._http import HttpPool, iter_sse, status_error
from ._http_errors import map_http_errors

# (status, decoded JSON body or None, raw text) -> (message, error type)
ErrorReader = Callable[[int, Any, str], tuple[str, str | None]]

_ERROR_SCAN = 8_000  # how much of an error body is read for its message (status_error cuts it shorter)


def encode_json(body: Mapping[str, Any]) -> bytes:
    """The request body as UTF-8 JSON; :class:`InvalidRequestError` for what JSON cannot carry.

    ``build_request`` refuses such input before any layer runs; this is the same rule at
    the edge, for requests built by hand or changed by a layer, so that a lone surrogate
    or a NaN never escapes as a raw ``UnicodeEncodeError`` or ``ValueError``.
    """
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError("contains a lone surrogate: not valid UTF-8 text", field="request body") from None
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, TypeError):
            why = "a value of a type JSON cannot carry"
        elif isinstance(exc, RecursionError) or "ircular" in str(exc):
            why = "a structure that contains itself"
        else:
            why = "NaN or an infinity, which JSON cannot carry"
        raise InvalidRequestError(f"contains {why}", field="request body") from None


def decode_json(text: str, *, deployment: str, what: str = "response body") -> Any:
    """``json.loads``, with a clear :class:`MalformedResponseError` for bad input."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Where it broke, never what it said: a body can echo the key or the prompt.
        where = f"{exc.msg} at character {exc.pos} of {len(text)}"
        raise MalformedResponseError(f"{what} is not JSON ({where})", deployment=deployment) from None


def expect_object(value: Any, *, deployment: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedResponseError(f"{what} is not a JSON object", deployment=deployment)
    return value


def error_from_response(
    status: int,
    text: str,
    headers: Mapping[str, str],
    *,
    deployment: str,
    read_error: ErrorReader,
) -> ProviderError | RateLimitedError:
    """The typed error for an HTTP error answer, with the provider's own message."""
    text = text[:_ERROR_SCAN]
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    message, error_type = read_error(status, body, text)
    return status_error(status, message, deployment=deployment, headers=headers, error_type=error_type)


async def post_json(
    pool: HttpPool,
    path: str,
    body: Mapping[str, Any],
    *,
    deployment: str,
    read_error: ErrorReader,
) -> Mapping[str, Any]:
    """POST ``body``; return the decoded JSON object, or raise the typed error."""
    content = encode_json(body)
    direct = pool.direct()
    if direct is not None:
        status, headers, text = await direct.post(path, content, deployment=deployment)
    else:
        with map_http_errors(deployment):
            response = await pool.get().post(pool.url(path), content=content)
            status, headers, text = response.status_code, response.headers, response.text
    if status >= 400:
        raise error_from_response(status, text, headers, deployment=deployment, read_error=read_error)
    return expect_object(decode_json(text, deployment=deployment), deployment=deployment, what="response body")


@asynccontextmanager
async def open_sse(
    pool: HttpPool,
    path: str,
    body: Mapping[str, Any],
    *,
    deployment: str,
    read_error: ErrorReader,
) -> AsyncIterator[AsyncIterator[tuple[str | None, Mapping[str, Any]]]]:
    """POST ``body`` and yield its event stream: ``(event name, decoded data)`` pairs.

    An error status raises before the stream opens; a data line that is not a JSON
    object raises :class:`MalformedResponseError`. Transport errors are translated
    for the whole life of the stream.
    """
    content = encode_json(body)
    direct = pool.direct()
    if direct is not None:
        async with direct.stream(path, content, deployment=deployment) as streamed:
            if streamed.status >= 400:
                text = await streamed.read_text()
                raise error_from_response(
                    streamed.status, text, streamed.headers, deployment=deployment, read_error=read_error
                )
            yield _events(streamed.lines(), deployment)
        return
    with map_http_errors(deployment):
        async with pool.get().stream("POST", pool.url(path), content=content) as response:
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", "replace")
                raise error_from_response(
                    response.status_code, text, response.headers, deployment=deployment, read_error=read_error
                )
            yield _events(response.aiter_lines(), deployment)


async def _events(raw: AsyncIterator[str], deployment: str) -> AsyncIterator[tuple[str | None, Mapping[str, Any]]]:
    lines = _SseLines(raw)
    async for event, data in iter_sse(lines):
        if data.strip() == "[DONE]":
            continue
        decoded = decode_json(data, deployment=deployment, what="stream event")
        yield event, expect_object(decoded, deployment=deployment, what="stream event")
    if lines.other and not lines.sse:
        # A whole body, but not an event stream (a JSON object, a proxy's HTML page):
        # as malformed as bad JSON, not a connection that was cut.
        raise MalformedResponseError("the answer to a stream request is not an event stream", deployment=deployment)


_SSE_FIELDS = ("data", "event", "id", "retry")


class _SseLines:
    """Passes lines through, noting whether any was an event-stream line, and any was not."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines
        self.sse = False
        self.other = False

    def __aiter__(self) -> _SseLines:
        return self

    async def __anext__(self) -> str:
        line = await anext(self._lines)
        if line and not self.sse:
            if line.startswith(":") or line.partition(":")[0] in _SSE_FIELDS:
                self.sse = True
            else:
                self.other = True
        return line
