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

from .._core.backend import Backend, Emit
from .._core.config import Guards
from .._core.errors import OutputRejectedError
from .._core.events import GuardTriggered
from .._core.models import ChatChunk, ChatRequest, ChatResponse, Usage, new_id
from ._streams import aclose_stream


def checks_output(config: Guards) -> bool:
    return bool(config.output_classifiers or config.blocklist)


def compile_blocklist(terms: Sequence[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any term as a whole word or phrase."""
    words = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)


class OutputGuardLayer:
    """Checks answers (whole or streamed) against the blocklist and the classifiers."""

    def __init__(self, inner: Backend, config: Guards, emit: Emit) -> None:
        self.inner = inner
        self.config = config
        self.emit = emit
        self.name = inner.name
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

    def _hit(self, request: ChatRequest, reason: str) -> str:
        """Report a hit; raise for ``block``; return the flag to mark the answer with."""
        action = self.config.output_action
        trace = request.trace
        self.emit(GuardTriggered(trace.call_id if trace else None, "output", "output", action, reason))
        if action == "block":
            raise OutputRejectedError(reason)
        flag = f"output:{reason}"
        if trace is not None:
            trace.flags.append(flag)
        return flag

    def _replaced(self, response: ChatResponse, flag: str) -> ChatResponse:
        return replace(
            response,
            text=self.config.output_replacement,
            finish_reason="content_filter",
            tool_calls=None,
            flagged=(*response.flagged, flag),
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        response = await self.inner.complete(request)
        reason = self.check(response.text)
        if reason is None:
            return response
        flag = self._hit(request, reason)
        if self.config.output_action == "replace":
            return self._replaced(response, flag)
        return replace(response, flagged=(*response.flagged, flag))

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        text = ""
        flag: str | None = None
        sent = False
        stream = self.inner.stream(request)
        try:
            async for chunk in stream:
                if chunk.text and flag is None:
                    checked, text = len(text), text + chunk.text
                    reason = self.check(text, new_from=checked)
                    if reason is not None:
                        flag = self._hit(request, reason)
                        if self.config.output_action == "replace":
                            async for last in self._replacement(request, flag, sent):
                                yield last
                            return
                if chunk.response is not None and flag is not None:
                    chunk = replace(chunk, response=replace(chunk.response, flagged=(*chunk.response.flagged, flag)))
                sent = sent or bool(chunk.text)
                yield chunk
        finally:
            await aclose_stream(stream)

    async def _replacement(self, request: ChatRequest, flag: str, sent: bool) -> AsyncIterator[ChatChunk]:
        blank = ChatResponse(
            id=new_id("guard"),
            text="",
            finish_reason="content_filter",
            usage=Usage(estimated=True),
            model=request.model or "",
            deployment=self.name,
        )
        response = self._replaced(blank, flag)
        if not sent:  # nothing reached the caller yet: the replacement is the whole answer
            yield ChatChunk(text=response.text)
        yield ChatChunk(finish_reason="content_filter", usage=response.usage, response=response)

    async def aclose(self) -> None:
        await self.inner.aclose()
