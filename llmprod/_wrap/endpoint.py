"""The wrapped SDK client's own endpoint, as the backend at the bottom of the stack.

It sends the SDK's request as the SDK built it (URL, headers with the SDK's own
credentials, body; the body patched only where a layer changed the prompt) over
llmprod's own connection pool, and keeps what the provider answered: status, headers,
and the body, or each stream event as it came. The layers above read the views the
endpoint's codec makes; the SDK gets the provider's own bytes back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields, replace
from typing import Any

from .._core.errors import ProviderConnectionError, UnsupportedOperationError
from .._core.models import ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse
from .._core.raw import Event, Headers, RawAnswer, RawChatResponse, RawChunk, RawRequest, raw_of
from ..backends._http import HttpPool, iter_sse
from ..backends._http_errors import map_http_errors
from ..backends._json_api import decode_json, error_from_response, expect_object
from .codec import dumps, keep_answer

# Set per connection or by the transport: never copied from one HTTP message to another.
_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding", "accept-encoding", "content-encoding"})


def kept_headers(headers: Any) -> Headers:
    """``headers`` (an httpx ``Headers``) without the hop-by-hop ones, names lower-cased."""
    return tuple((k.lower(), v) for k, v in headers.multi_items() if k.lower() not in _HOP)


class SDKEndpoint:
    """A backend that sends the requests of one wrapped SDK client (see the module docstring).

    ``provider`` names the provider in telemetry. Only requests that came through this
    endpoint's own SDK client are sent (their headers hold its credentials); a request
    without one (``wrapped.llmprod.chat(...)``) is refused with
    :class:`UnsupportedOperationError`: call through the SDK.
    """

    model = None

    def __init__(
        self,
        *,
        name: str,
        provider: str,
        base_url: str,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
    ) -> None:
        self.name = name
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._pool = HttpPool(
            base_url=self.base_url, headers={}, connect_timeout=connect_timeout, max_connections=max_connections
        )

    def __repr__(self) -> str:
        return f"SDKEndpoint(name={self.name!r}, base_url={self.base_url!r})"

    def _mine(self, request: ChatRequest) -> RawRequest:
        raw = raw_of(request)
        if raw is None or raw.sender is not self:
            raise UnsupportedOperationError(
                "the wrapped SDK client's endpoint answers the SDK's own calls only: call through the SDK",
                operation="chat",
                deployment=self.name,
            )
        return raw

    def _content(self, raw: RawRequest, request: ChatRequest) -> bytes:
        if request.messages is raw.messages:
            return raw.content
        return dumps(raw.codec.patched_body(raw, request))

    async def _answer(self, request: ChatRequest) -> ChatResponse:
        raw = self._mine(request)
        http = self._pool.get()
        with map_http_errors(self.name):
            response = await http.request(
                raw.method, raw.url, headers=_sent(raw.headers), content=self._content(raw, request)
            )
            text = response.text
        answer = RawAnswer(response.status_code, kept_headers(response.headers), text)
        if response.status_code >= 400:
            error = error_from_response(
                response.status_code, text, response.headers, deployment=self.name, read_error=raw.codec.read_error
            )
            raise keep_answer(error, answer)
        data = expect_object(decode_json(text, deployment=self.name), deployment=self.name, what="response body")
        view = raw.codec.parse(data, deployment=self.name, model=request.model or "")
        answered: ChatResponse = with_answer(view, answer)
        return answered

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self._answer(request)

    async def respond(self, request: ChatRequest) -> ChatResponse:
        return await self._answer(request)

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        answer = await self._answer(request)
        assert isinstance(answer, EmbedResponse)
        return answer

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._stream(request)

    def respond_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        raw = self._mine(request)
        codec = raw.codec
        state = codec.start(deployment=self.name, model=request.model or "")
        http = self._pool.get()
        tail: list[Event] = []
        with map_http_errors(self.name):
            sent = http.stream(raw.method, raw.url, headers=_sent(raw.headers), content=self._content(raw, request))
            async with sent as response:
                headers = kept_headers(response.headers)
                if response.status_code >= 400:
                    text = (await response.aread()).decode("utf-8", "replace")
                    error = error_from_response(
                        response.status_code, text, response.headers, deployment=self.name, read_error=codec.read_error
                    )
                    raise keep_answer(error, RawAnswer(response.status_code, headers, text))
                head: RawAnswer | None = RawAnswer(response.status_code, headers)
                async for event, data in iter_sse(response.aiter_lines()):
                    if data.strip() == "[DONE]":
                        tail.append((event, data))
                        continue
                    decoded = decode_json(data, deployment=self.name, what="stream event")
                    piece = codec.feed(state, event, expect_object(decoded, deployment=self.name, what="stream event"))
                    yield RawChunk(
                        text=piece.text,
                        tool_calls=piece.tool_calls,
                        events=((event, data),),
                        wire_text=piece.text,
                        head=head,
                    )
                    head = None
        if not codec.ended(state):
            raise ProviderConnectionError("the stream ended before its last event", deployment=self.name)
        final = with_answer(codec.final(state), RawAnswer(response.status_code, headers))
        yield ChatChunk(finish_reason=final.finish_reason, usage=final.usage, response=replace(final, tail=tuple(tail)))

    async def aclose(self) -> None:
        await self._pool.aclose()


def with_answer(view: ChatResponse, answer: RawAnswer) -> Any:
    """The view answer, keeping the provider's own."""
    if isinstance(view, EmbedResponse):
        return replace(view, raw=answer)
    return RawChatResponse(**{f.name: getattr(view, f.name) for f in fields(view)}, raw=answer)


def _sent(headers: Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k not in _HOP]


def first_head(chunk: ChatChunk) -> RawAnswer | None:
    return chunk.head if isinstance(chunk, RawChunk) else None


def answer_of(response: ChatResponse) -> RawAnswer | None:
    raw = getattr(response, "raw", None)
    return raw if isinstance(raw, RawAnswer) else None


def tail_of(response: ChatResponse) -> tuple[Event, ...]:
    return response.tail if isinstance(response, RawChatResponse) else ()
