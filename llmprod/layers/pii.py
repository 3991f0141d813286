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

from .._core.call import Call, Layer, Opened
from .._core.config import PII
from .._core.events import Emit, PIIRedacted
from .._core.models import ChatChunk, Message
from ..pii import Redactor, StreamRedactor, StreamRestorer


class PIILayer(Layer):
    """Wraps ``inner``: redacts every message's text (and tool-call arguments) going
    down, redacts and optionally restores the answer coming back."""

    def __init__(self, inner: Layer, config: PII, emit: Emit) -> None:
        super().__init__(inner)
        self.config = config
        self.emit = emit
        self._session()  # bad entities or detectors fail here, when the client is built

    def _session(self) -> Redactor:
        c = self.config
        return Redactor(mode=c.mode, entities=c.entities, detectors=tuple(c.detectors))

    def _restoring(self) -> bool:
        return self.config.mode == "pseudonymize" and self.config.restore

    def _report(self, call: Call, direction: Literal["input", "output"], counts: Mapping[str, int]) -> dict[str, int]:
        found = {k: v for k, v in counts.items() if v}
        if found:
            self.emit(PIIRedacted(call.id, direction, found))
        return found

    def _redact_request(self, call: Call, session: Redactor) -> tuple[Call, dict[str, int]]:
        request = call.request
        before = Counter(session.counts)
        messages = tuple(_redact_message(m, session.redact) for m in request.messages)
        user = session.redact(request.user) if request.user else request.user
        found = session.counts - before
        if not found:
            return call, {}  # nothing redacted: the same request (counts made above stay valid)
        counts = self._report(call, "input", found)
        return call.with_request(replace(request, messages=messages, user=user)), counts

    async def open(self, call: Call) -> Opened:
        session = self._session()
        redacted, counts = self._redact_request(call, session)
        opened = await self.inner.open(redacted)
        opened.add_pii(counts)
        only = session.placeholders()
        if opened.first is not None:
            redactor = StreamRedactor(redactor=session) if self.config.redact_output else None
            restorer = StreamRestorer(session, only=only) if self._restoring() else None
            sent: list[str] = []
            try:
                first = await _first_shown(opened, redactor, restorer, sent)
            except BaseException as exc:
                await opened.close_quietly(exc)
                raise
            opened.first = first
            opened.rest = self._stream(opened, opened.rest, redactor, restorer, sent)
            opened.on_close(self, (call, session, only, redactor, sent))
        else:
            opened.on_close(self, (call, session, only, None, None))
        return opened

    async def _stream(
        self,
        opened: Opened,
        rest: AsyncIterator[ChatChunk] | None,
        redactor: StreamRedactor | None,
        restorer: StreamRestorer | None,
        sent: list[str],
    ) -> AsyncIterator[ChatChunk]:
        try:
            if rest is None:
                return
            async for chunk in rest:
                last = chunk.response is not None
                text = _through(chunk.text, redactor, restorer, last)
                sent.append(text)
                # A chunk whose text is all held back is dropped, unless it carries a
                # provider's own events (llmprod.wrap sends those on, with the text left).
                if (
                    last
                    or text
                    or not chunk.text
                    or chunk.tool_calls
                    or chunk.finish_reason
                    or chunk.usage
                    or _raw(chunk)
                ):
                    yield replace(chunk, text=text) if text != chunk.text else chunk
        finally:
            aclose = getattr(rest, "aclose", None)
            if aclose is not None:
                await aclose()

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        call, session, only, redactor, sent = state
        response = opened.response
        if response is None:
            return
        if sent is not None:  # a stream: the caller got exactly what went through _stream
            if redactor is not None:
                opened.add_pii(self._report(call, "output", redactor.counts))
            text = "".join(sent)
        else:
            text = response.text
            if self.config.redact_output:
                redaction = session.redact_with_counts(text)
                text = redaction.text
                opened.add_pii(self._report(call, "output", redaction.counts))
            if self._restoring():
                text = session.restore(text, only)
        tool_calls = response.tool_calls
        if tool_calls and self._restoring():
            tool_calls = tuple(_map_arguments(c, lambda s: session.restore(s, only)) for c in tool_calls)
        if text != response.text or tool_calls is not response.tool_calls:
            opened.response = replace(response, text=text, tool_calls=tool_calls)


async def _first_shown(
    opened: Opened, redactor: StreamRedactor | None, restorer: StreamRestorer | None, sent: list[str]
) -> ChatChunk:
    """The stream's first chunk as the caller will see it. A chunk whose text is all held
    back (it may be the start of an e-mail address) is not a first chunk: read on."""
    chunk = opened.first
    assert chunk is not None
    while True:
        last = chunk.response is not None
        text = _through(chunk.text, redactor, restorer, last)
        sent.append(text)
        if (
            text
            or last
            or not chunk.text
            or chunk.tool_calls
            or chunk.finish_reason
            or opened.rest is None
            or _raw(chunk)
        ):
            return replace(chunk, text=text) if text != chunk.text else chunk
        chunk = await anext(opened.rest)


def _raw(chunk: ChatChunk) -> bool:
    return chunk.__class__ is not ChatChunk


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
