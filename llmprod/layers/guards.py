"""Input guards: size limits and the prompt-injection filter.

Checks run before anything is sent: the number of messages, the characters, the
prompt's tokens (at most the model's context window minus ``max_tokens`` when the
price table knows the model, and at most ``max_prompt_tokens``), then the injection
score of the user and tool messages (system and developer messages are the
application's own and are not scored). A refusal raises :class:`InputRejectedError`
naming the rule; ``injection="flag"`` lets the call go on and marks it instead
(``response.flagged``, and a :class:`GuardTriggered` event).

The output half lives in :mod:`llmprod.layers.output_guard`. The stack puts it below
the cache, so a blocked or replaced answer never reaches the cache; used alone,
``GuardsLayer`` wraps its inner backend in one itself (``output=True``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._core.backend import Backend, Emit
from .._core.config import Guards
from .._core.errors import InputRejectedError
from .._core.events import GuardTriggered
from .._core.models import ChatChunk, ChatRequest, ChatResponse
from .._safety.injection import score_injection
from ._estimate import context_window, prompt_tokens
from ._streams import aclose_stream
from .output_guard import OutputGuardLayer, checks_output

_SCORED_ROLES = frozenset({"user", "tool"})


class GuardsLayer:
    """Refuses or flags a request before it goes further down the stack."""

    def __init__(self, inner: Backend, config: Guards, emit: Emit, *, output: bool = True) -> None:
        if output and checks_output(config):
            inner = OutputGuardLayer(inner, config, emit)
        self.inner = inner
        self.config = config
        self.emit = emit
        self.name = inner.name

    def _reject(self, request: ChatRequest, guard: str, reason: str, score: float | None = None) -> InputRejectedError:
        trace = request.trace
        self.emit(GuardTriggered(trace.call_id if trace else None, guard, "input", "block", reason))
        return InputRejectedError(reason, score=score)

    def check(self, request: ChatRequest) -> None:
        """Raise :class:`InputRejectedError` if a limit or the injection filter refuses ``request``."""
        config = self.config
        if config.max_messages is not None and len(request.messages) > config.max_messages:
            count = len(request.messages)
            raise self._reject(request, "messages", f"{count} messages, over the limit of {config.max_messages}")
        chars = sum(len(m.text()) for m in request.messages)
        if config.max_chars is not None and chars > config.max_chars:
            raise self._reject(request, "chars", f"prompt has {chars} characters, over the limit of {config.max_chars}")
        self._check_tokens(request)
        if config.injection != "off":
            self._check_injection(request)

    def _check_tokens(self, request: ChatRequest) -> None:
        limit = self.config.max_prompt_tokens
        why = "max_prompt_tokens"
        window = context_window(request.model)
        if window is not None:
            room = window - (request.max_tokens or 0)
            if limit is None or room < limit:
                limit, why = room, f"context window {window} minus max_tokens {request.max_tokens or 0}"
        if limit is None:
            return
        counted = prompt_tokens(request)
        if counted.tokens > limit:
            about = "about " if counted.estimated else ""
            reason = f"prompt has {about}{counted.tokens} tokens, over the limit of {limit} ({why})"
            raise self._reject(request, "tokens", reason)

    def _check_injection(self, request: ChatRequest) -> None:
        text = "\n".join(m.text() for m in request.messages if m.role in _SCORED_ROLES)
        score, rules = score_injection(text)
        if score < self.config.injection_threshold:
            return
        reason = f"possible prompt injection ({', '.join(rules)}; score {score:.2f})"
        if self.config.injection == "block":
            raise self._reject(request, "injection", reason, score)
        trace = request.trace
        if trace is not None:
            trace.flags.append("input:injection")
        self.emit(GuardTriggered(trace.call_id if trace else None, "injection", "input", "flag", reason))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.check(request)
        return await self.inner.complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.check(request)
        stream = self.inner.stream(request)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_stream(stream)

    async def aclose(self) -> None:
        await self.inner.aclose()
