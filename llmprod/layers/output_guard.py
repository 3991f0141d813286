"""Output guards: a blocklist and pluggable classifiers on the model's answer.

A classifier is any callable ``text -> reason | None`` (a toxicity model, a regex, a
moderation call). On a hit, ``Guards.output_action`` decides: ``"block"`` raises
:class:`OutputRejectedError`; ``"replace"`` returns ``output_replacement`` with
``finish_reason="content_filter"``; ``"flag"`` returns the answer marked in
``response.flagged``. Every hit emits :class:`GuardTriggered`.

Why this layer sits *below* the cache: the cache stores what comes up from beneath
it, and never a response that is flagged or content-filtered (or an error). Checking
here, before the cache sees the answer, means a blocked or replaced answer is never
stored, so it can never be served to the next identical call.

Streams are checked as they go: before each chunk is passed on, the text so far is
checked (the blocklist only over the new text and a tail as long as its longest term;
classifiers over all of it). A block after chunks were sent ends the stream with
:class:`OutputRejectedError`; a replace ends it with a final chunk whose response is
the replacement.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from .._core.call import Call, Layer, Opened
from .._core.config import Guards
from .._core.errors import OutputRejectedError
from .._core.events import Emit, GuardTriggered
from .._core.models import ChatChunk, ChatResponse, Usage, new_id


def checks_output(config: Guards) -> bool:
    return bool(config.output_classifiers or config.blocklist)


def compile_blocklist(terms: Sequence[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any term as a whole word or phrase."""
    words = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)


class OutputGuardLayer(Layer):
    """Checks answers (whole or streamed) against the blocklist and the classifiers."""

    def __init__(self, inner: Layer, config: Guards, emit: Emit) -> None:
        super().__init__(inner)
        self.config = config
        self.emit = emit
        self._blocklist = compile_blocklist(config.blocklist)
        self._tail = max((len(t) for t in config.blocklist), default=0)

    def check(self, text: str, *, new_from: int = 0) -> str | None:
        """The reason ``text`` is refused, or None. The blocklist scans from ``new_from`` minus a tail."""
        if self._blocklist is not None and self._blocklist.search(text, max(0, new_from - self._tail)):
            return "blocklist"
        for classify in self.config.output_classifiers:
            reason = classify(text)
            if reason:
                return reason
        return None

    def _hit(self, call: Call, reason: str) -> str:
        """Report a hit; raise for ``block``; return the flag to mark the answer with."""
        action = self.config.output_action
        self.emit(GuardTriggered(call.id, "output", "output", action, reason))
        if action == "block":
            raise OutputRejectedError(reason)
        return f"output:{reason}"

    async def _verdict(self, opened: Opened, call: Call, reason: str) -> str:
        """:meth:`_hit` while opening: a block closes what was opened before it is raised."""
        try:
            return self._hit(call, reason)
        except OutputRejectedError as exc:
            await opened.close_quietly(exc)
            raise

    def _replaced(self, response: ChatResponse) -> ChatResponse:
        return replace(
            response,
            text=self.config.output_replacement,
            finish_reason="content_filter",
            tool_calls=None,
        )

    async def open(self, call: Call) -> Opened:
        opened = await self.inner.open(call)
        if call.operation == "embed":  # vectors: no text to check
            return opened
        if opened.first is not None:
            return await self._open_stream(opened, call)
        assert opened.response is not None
        reason = self.check(opened.response.text)
        if reason is None:
            return opened
        flag = await self._verdict(opened, call, reason)
        opened.flags = (*opened.flags, flag)
        if self.config.output_action == "replace":
            opened.response = self._replaced(opened.response)
        return opened

    async def _open_stream(self, opened: Opened, call: Call) -> Opened:
        first = opened.first
        assert first is not None
        reason = self.check(first.text) if first.text else None
        if reason is None:
            opened.rest = self._checked(opened, opened.rest, call, first.text)
            return opened
        flag = await self._verdict(opened, call, reason)
        if self.config.output_action == "replace":
            await _aclose(opened.rest)
            chunks = self._replacement(opened, call, flag, sent=False)
            opened.first = await anext(chunks)
            opened.rest = chunks
        else:
            opened.rest = self._checked(opened, opened.rest, call, first.text, flag)
        return opened

    async def _checked(
        self,
        opened: Opened,
        rest: AsyncIterator[ChatChunk] | None,
        call: Call,
        text: str,
        flag: str | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """The rest of the stream, each chunk checked before it goes on."""
        sent = bool(text)
        try:
            if rest is None:
                return
            async for chunk in rest:
                if chunk.text and flag is None:
                    checked, text = len(text), text + chunk.text
                    reason = self.check(text, new_from=checked)
                    if reason is not None:
                        flag = self._hit(call, reason)
                        if self.config.output_action == "replace":
                            async for last in self._replacement(opened, call, flag, sent):
                                yield last
                            return
                if chunk.response is not None and flag is not None:
                    opened.flags = (*opened.flags, flag)
                sent = sent or bool(chunk.text)
                yield chunk
        finally:
            await _aclose(rest)

    async def _replacement(self, opened: Opened, call: Call, flag: str, sent: bool) -> AsyncIterator[ChatChunk]:
        blank = ChatResponse(
            id=new_id("guard"),
            text="",
            finish_reason="content_filter",
            usage=Usage(estimated=True),
            model=call.request.model or "",
            deployment=self.name,
        )
        response = self._replaced(blank)
        opened.flags = (*opened.flags, flag)
        if not sent:  # nothing reached the caller yet: the replacement is the whole answer
            yield ChatChunk(text=response.text)
        yield ChatChunk(finish_reason="content_filter", usage=response.usage, response=response)


async def _aclose(stream: AsyncIterator[ChatChunk] | None) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
