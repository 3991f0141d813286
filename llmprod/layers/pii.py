"""The PII layer: redact the prompt before it goes down, the answer on its way up.

Everything below this layer (cache keys, budget, providers, their logs and spans)
sees only redacted text. Each call gets its own :class:`~llmprod.pii.Redactor`
session, so placeholders are numbered per call and the same prompt always redacts
to the same text (cacheable). With ``mode="pseudonymize"`` and ``restore=True``,
the placeholders made from the prompt are swapped back in the answer handed to the
caller, streamed too; PII the model writes on its own stays redacted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

from .._core.backend import Backend, Emit
from .._core.config import PII
from .._core.events import PIIRedacted
from .._core.models import ChatChunk, ChatRequest, ChatResponse, Message
from ..pii import Redactor, StreamRedactor, StreamRestorer
from ._streams import aclose_stream


class PIILayer:
    """Wraps ``inner``: redacts every message's text (and tool-call arguments) going
    down, redacts and optionally restores the answer coming back."""

    def __init__(self, inner: Backend, config: PII, emit: Emit) -> None:
        self.inner = inner
        self.config = config
        self.emit = emit
        self.name = inner.name
        self._session()  # bad entities or detectors fail here, when the client is built

    def _session(self) -> Redactor:
        c = self.config
        return Redactor(mode=c.mode, entities=c.entities, detectors=tuple(c.detectors))

    def _restoring(self) -> bool:
        return self.config.mode == "pseudonymize" and self.config.restore

    def _report(self, request: ChatRequest, direction: Literal["input", "output"], counts: Mapping[str, int]) -> None:
        counts = {k: v for k, v in counts.items() if v}
        if not counts:
            return
        trace = request.trace
        if trace is not None:
            for entity, n in counts.items():
                trace.pii_counts[entity] = trace.pii_counts.get(entity, 0) + n
        self.emit(PIIRedacted(trace.call_id if trace else None, direction, counts))

    def _redact_request(self, request: ChatRequest, session: Redactor) -> ChatRequest:
        before = Counter(session.counts)
        messages = tuple(_redact_message(m, session.redact) for m in request.messages)
        user = session.redact(request.user) if request.user else request.user
        found = session.counts - before
        if not found:
            return request  # nothing redacted: the same messages (counts made above stay valid)
        self._report(request, "input", found)
        return replace(request, messages=messages, user=user)

    def _finish(self, response: ChatResponse, text: str, session: Redactor, only: frozenset[str]) -> ChatResponse:
        tool_calls = response.tool_calls
        if tool_calls and self._restoring():
            tool_calls = tuple(_map_arguments(call, lambda s: session.restore(s, only)) for call in tool_calls)
        counts = dict(session.counts)
        return replace(response, text=text, tool_calls=tool_calls, pii_redacted=counts or response.pii_redacted)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        session = self._session()
        response = await self.inner.complete(self._redact_request(request, session))
        only = session.placeholders()
        text = response.text
        if self.config.redact_output:
            redaction = session.redact_with_counts(text)
            text = redaction.text
            self._report(request, "output", redaction.counts)
        if self._restoring():
            text = session.restore(text, only)
        return self._finish(response, text, session, only)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        session = self._session()
        stream = self.inner.stream(self._redact_request(request, session))
        only = session.placeholders()
        redactor = StreamRedactor(redactor=session) if self.config.redact_output else None
        restorer = StreamRestorer(session, only=only) if self._restoring() else None
        sent: list[str] = []
        try:
            async for chunk in stream:
                last = chunk.response is not None
                text = _through(chunk.text, redactor, restorer, last)
                sent.append(text)
                if last:
                    assert chunk.response is not None
                    if redactor is not None:
                        self._report(request, "output", redactor.counts)
                    response = self._finish(chunk.response, "".join(sent), session, only)
                    yield replace(chunk, text=text, response=response)
                elif text or not chunk.text or chunk.tool_calls or chunk.finish_reason or chunk.usage:
                    yield replace(chunk, text=text) if text != chunk.text else chunk
            tail = _through("", redactor, restorer, True) if redactor or restorer else ""
            if tail:  # the stream ended without a final chunk: what was held back goes out now
                yield ChatChunk(text=tail)
        finally:
            await aclose_stream(stream)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _through(text: str, redactor: StreamRedactor | None, restorer: StreamRestorer | None, last: bool) -> str:
    if redactor is not None:
        text = redactor.feed(text) + (redactor.flush() if last else "")
    if restorer is not None:
        text = restorer.feed(text) + (restorer.flush() if last else "")
    return text


def _redact_message(message: Message, redact: Callable[[str], str]) -> Message:
    content = message.content
    if isinstance(content, str):
        content = redact(content)
    elif content is not None:
        content = tuple(
            {**part, "text": redact(part["text"])}
            if part.get("type") == "text" and isinstance(part.get("text"), str)
            else part
            for part in content
        )
    tool_calls = message.tool_calls
    if tool_calls:
        tool_calls = tuple(_map_arguments(call, redact) for call in tool_calls)
    return replace(message, content=content, tool_calls=tool_calls)


def _map_arguments(call: Mapping[str, Any], change: Callable[[str], str]) -> Mapping[str, Any]:
    function = call.get("function")
    if not isinstance(function, Mapping) or not isinstance(function.get("arguments"), str):
        return call
    return {**call, "function": {**function, "arguments": change(function["arguments"])}}
