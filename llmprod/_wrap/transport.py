"""llmprod under a wrapped SDK, as its HTTP transport.

The SDK serializes each request and parses each answer itself, so every SDK feature
(``with_raw_response``, ``parse``, its stream types, every field) keeps working. A
request to an endpoint llmprod hardens becomes a call through the stack (its view built
by the endpoint's codec; :class:`~llmprod._wrap.endpoint.SDKEndpoint` sends the SDK's
own bytes at the bottom); its answer comes back as the provider's own status, headers
and body, changed only where a layer changed it. Any other request goes to the SDK's
own HTTP client unchanged.

A failure comes back the way the provider's would: the provider's last error answer
(marked ``x-should-retry: false``: llmprod already retried), or, for a connection that
failed or timed out, the HTTP library's exception, which the SDK turns into its own
``APIConnectionError`` / ``APITimeoutError``. Errors only llmprod raises (a budget, a
guard, a local rate limit, an open breaker) are raised as they are.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .._core.call import Call
from .._core.errors import (
    AllBackendsFailedError,
    ConnectError,
    DeadlineExceededError,
    LLMProdError,
    OutputRejectedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
)
from .._core.models import ChatChunk, ChatResponse, EmbedRequest
from .._core.raw import Event, RawChatRequest, RawChunk, RawRequest
from .codec import Codec, dumps, loads, raw_answer_of, replace_text, view_messages
from .endpoint import answer_of, kept_headers, tail_of


@dataclass(frozen=True, slots=True)
class Routes:
    """Which requests go through the stack: a POST whose path ends in a key."""

    codecs: dict[str, Codec]

    def match(self, method: str, path: str) -> Codec | None:
        if method != "POST":
            return None
        for suffix, codec in self.codecs.items():
            if path.endswith(suffix):
                return codec
        return None


class Wiring:
    """What both transports share: turning an HTTP request into a call, and an answer back."""

    def __init__(
        self, http: ModuleType, routes: Routes, sender: object, *, total: float, sdk_read: float | None
    ) -> None:
        self.http = http
        self.routes = routes
        self.sender = sender
        self.total = total
        self.sdk_read = sdk_read

    def call(self, request: Any) -> Call | None:
        """The call for ``request``, or None when it is not llmprod's to send."""
        codec = self.routes.match(request.method, request.url.path)
        if codec is None:
            return None
        content = request.content
        try:
            body = loads(content)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        messages = view_messages(codec.groups(body))
        stream = body.get("stream") is True
        raw = RawRequest(
            operation=codec.operation,
            method=request.method,
            url=str(request.url),
            headers=kept_headers(request.headers),
            content=content,
            body=body,
            messages=messages,
            codec=codec,
            sender=self.sender,
            stream=stream,
        )
        fields = codec.view(body, messages)
        view = (EmbedRequest if codec.operation == "embed" else RawChatRequest)(messages=messages, raw=raw, **fields)
        return Call(view, stream=stream, timeout=self._timeout(request), operation=codec.operation)

    def _timeout(self, request: Any) -> float:
        """A per-request ``timeout=`` (one the SDK client was not built with) bounds the whole call."""
        given = (request.extensions.get("timeout") or {}).get("read")
        if isinstance(given, int | float) and given != self.sdk_read and given > 0:
            return float(given)
        return self.total

    def answer(self, request: Any, call: Call, response: ChatResponse) -> Any:
        """The HTTP response the SDK parses: the provider's own, patched where a layer changed it."""
        raw = _raw(call)
        status, headers, content = _body(raw, response)
        return self.http.Response(status, headers=[*headers, *_facts(response)], content=content, request=request)

    def stream_head(self, request: Any, first: ChatChunk, frames: Any) -> Any:
        head = first.head if isinstance(first, RawChunk) else None
        headers = list(head.headers) if head is not None else [("content-type", "text/event-stream")]
        return self.http.Response(head.status if head else 200, headers=headers, stream=frames, request=request)

    def failure(self, request: Any, call: Call, exc: LLMProdError) -> Any:
        """The HTTP response (or the HTTP library's exception) for a call that failed."""
        error: BaseException = exc
        if isinstance(exc, AllBackendsFailedError) and exc.errors:
            error = exc.errors[-1]
        answer = raw_answer_of(error)
        if answer is not None and answer.body is not None:
            headers = [*answer.headers, ("x-should-retry", "false")]
            return self.http.Response(answer.status, headers=headers, content=answer.body.encode(), request=request)
        if isinstance(error, ProviderTimeoutError | DeadlineExceededError):
            raise self.http.ReadTimeout(f"llmprod: {error}", request=request) from exc
        if isinstance(error, ConnectError):
            raise self.http.ConnectError(f"llmprod: {error}", request=request) from exc
        if isinstance(error, ProviderConnectionError):
            raise self.http.RemoteProtocolError(f"llmprod: {error}", request=request) from exc
        status = getattr(error, "status", None)
        provider = isinstance(error, ProviderError) or (
            isinstance(error, RateLimitedError) and error.source == "provider"
        )
        if provider and isinstance(status, int) and status >= 400:
            assert isinstance(error, LLMProdError)
            body = _raw(call).codec.error_body(status, error.message, getattr(error, "error_type", None))
            headers = [("content-type", "application/json"), ("x-should-retry", "false")]
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                headers.append(("retry-after-ms", str(int(retry_after * 1000))))
            return self.http.Response(status, headers=headers, content=dumps(body), request=request)
        raise exc

    def broken(self, exc: BaseException) -> BaseException:
        """What the SDK's stream raises when the stream breaks after its first chunk."""
        if isinstance(exc, OutputRejectedError) or not isinstance(exc, LLMProdError):
            return exc
        return self.http.RemoteProtocolError(f"llmprod: {exc}")  # type: ignore[no-any-return]


def _raw(call: Call) -> RawRequest:
    raw = getattr(call.request, "raw", None)
    assert isinstance(raw, RawRequest)
    return raw


def _facts(response: ChatResponse) -> list[tuple[str, str]]:
    """What llmprod learned, for ``with_raw_response`` readers."""
    facts = [
        ("x-llmprod-attempts", str(response.attempts)),
        ("x-llmprod-cached", "true" if response.cached else "false"),
    ]
    if response.cost is not None:
        facts.append(("x-llmprod-cost", f"{response.cost:.10g}"))
    return facts


def _body(raw: RawRequest, response: ChatResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    codec = raw.codec
    answer = answer_of(response)
    if answer is None or answer.body is None:  # not the endpoint's own body: a fallback, a cache hit of a stream
        return 200, [("content-type", "application/json")], dumps(codec.body_of(response, raw))
    data = loads(answer.body)
    original = codec.parse(data, deployment=response.deployment, model=response.model)
    if (original.text, original.tool_calls, original.finish_reason) == (
        response.text,
        response.tool_calls,
        response.finish_reason,
    ):
        return answer.status, list(answer.headers), answer.body.encode()
    codec.patch_answer(data, response)
    return answer.status, list(answer.headers), dumps(data)


class Framer:
    """A stream's chunks as the SSE bytes the SDK reads.

    Chunks that carry the provider's events are sent as they came, rewritten only where a
    layer changed their text (PII). While a layer holds text back (a redactor waiting to
    see a whole e-mail address), the events without text wait too, so that they still
    come after it; events that repeat the whole text so far (the Responses API's ``done``
    events) follow a change of it. Text a layer adds (what a redactor flushes at the end)
    goes out in a copy of the last text event. A stream that did not come from the
    endpoint (a fallback deployment, a cache hit) is gathered and sent as the events of
    its whole answer.
    """

    def __init__(self, raw: RawRequest) -> None:
        self.raw = raw
        self.codec = raw.codec
        self.wire: list[str] = []
        self.sent: list[str] = []
        self.last_text: Event | None = None
        self.pending: list[Event] = []
        self.gathered: list[ChatChunk] | None = None

    def feed(self, chunk: ChatChunk) -> bytes:
        if self.gathered is not None or (not isinstance(chunk, RawChunk) and self.last_text is None and not self.wire):
            return self._gather(chunk)
        out: list[Event] = []
        if isinstance(chunk, RawChunk) and chunk.events:
            self.wire.append(chunk.wire_text)
            self.sent.append(chunk.text)
            if chunk.wire_text or chunk.text:
                out.extend(self._text_event(event, chunk) for event in chunk.events)
            else:
                self.pending.extend(chunk.events)
        elif chunk.text:
            self.sent.append(chunk.text)
            out.append(self._extra(chunk.text))
        last = chunk.response is not None
        if last or "".join(self.wire) == "".join(self.sent):
            out.extend(self._plain(event) for event in self.pending)
            self.pending.clear()
        if last:
            assert chunk.response is not None
            out.extend(self._plain(event) for event in tail_of(chunk.response))
        return b"".join(_frame(e) for e in out)

    def _text_event(self, event: Event, chunk: RawChunk) -> Event:
        self.last_text = event
        if chunk.text == chunk.wire_text:
            return event
        decoded = loads(event[1])
        self.codec.retext(decoded, chunk.text)
        return event[0], dumps(decoded).decode()

    def _plain(self, event: Event) -> Event:
        """An event without a delta, following a change of the text so far."""
        wire, sent = "".join(self.wire), "".join(self.sent)
        if wire == sent or not wire or event[1].strip() == "[DONE]":
            return event
        return event[0], dumps(replace_text(loads(event[1]), wire, sent)).decode()

    def _extra(self, text: str) -> Event:
        if self.last_text is None:
            return (None, "")
        name, data = self.last_text
        decoded = loads(data)
        self.codec.retext(decoded, text)
        return name, dumps(decoded).decode()

    def _gather(self, chunk: ChatChunk) -> bytes:
        gathered = self.gathered = self.gathered if self.gathered is not None else []
        gathered.append(chunk)
        if chunk.response is None:
            return b""
        _, _, content = _body(self.raw, chunk.response)
        return b"".join(_frame(e) for e in self.codec.events_of(loads(content), self.raw))


def _frame(event: Event) -> bytes:
    name, data = event
    if not data:
        return b""
    head = f"event: {name}\n" if name else ""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"{head}{lines}\n".encode()


def sync_transport(http: ModuleType, wiring: Wiring, client: Any, passthrough: Any) -> Any:
    """An httpx ``BaseTransport`` over the sync llmprod ``client``."""
    from .._core.call import complete, stream

    class Frames(http.SyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, framer: Framer, first: ChatChunk, chunks: Iterator[ChatChunk]) -> None:
            self.framer = framer
            self.first = first
            self.chunks = chunks

        def __iter__(self) -> Iterator[bytes]:
            try:
                for chunk in itertools.chain([self.first], self.chunks):
                    data = self.framer.feed(chunk)
                    if data:
                        yield data
            except Exception as exc:
                raise wiring.broken(exc) from exc

        def close(self) -> None:
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()

    class Transport(http.BaseTransport):  # type: ignore[name-defined,misc]
        def handle_request(self, request: Any) -> Any:
            call = wiring.call(request)
            if call is None:
                return passthrough.handle_request(request)
            runner, root = client._runner, client._async._root
            try:
                if not call.stream:
                    return wiring.answer(request, call, runner.run(complete(root, call)))
                chunks = runner.iterate(stream(root, call))
                first = next(chunks)
            except LLMProdError as exc:
                return wiring.failure(request, call, exc)
            return wiring.stream_head(request, first, Frames(Framer(_raw(call)), first, chunks))

        def close(self) -> None:
            client.close()

    return Transport()


def async_transport(http: ModuleType, wiring: Wiring, client: Any, passthrough: Any) -> Any:
    """An httpx ``AsyncBaseTransport`` over the async llmprod ``client``."""
    from .._core.call import complete, stream

    class Frames(http.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, framer: Framer, first: ChatChunk, chunks: AsyncIterator[ChatChunk]) -> None:
            self.framer = framer
            self.first: ChatChunk | None = first
            self.chunks = chunks

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                if self.first is not None:
                    first, self.first = self.first, None
                    data = self.framer.feed(first)
                    if data:
                        yield data
                async for chunk in self.chunks:
                    data = self.framer.feed(chunk)
                    if data:
                        yield data
            except Exception as exc:
                raise wiring.broken(exc) from exc

        async def aclose(self) -> None:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    class Transport(http.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        async def handle_async_request(self, request: Any) -> Any:
            call = wiring.call(request)
            if call is None:
                return await passthrough.handle_async_request(request)
            root = client._root
            try:
                if not call.stream:
                    return wiring.answer(request, call, await complete(root, call))
                chunks = stream(root, call)
                first = await anext(chunks)
            except LLMProdError as exc:
                return wiring.failure(request, call, exc)
            return wiring.stream_head(request, first, Frames(Framer(_raw(call)), first, chunks))

        async def aclose(self) -> None:
            await client.aclose()

    return Transport()
