"""Input guards: size limits and the prompt-injection filter.

Checks run before anything is sent: the number of messages, the characters, the
prompt's tokens (at most the model's context window minus ``max_tokens`` when the
price table knows the model, and at most ``max_prompt_tokens``), then the injection
score of the user and tool messages (system and developer messages are the
application's own and are not scored). A refusal raises :class:`InputRejectedError`
naming the rule; ``injection="flag"`` lets the call go on and marks it instead
(``response.flagged``, and a :class:`GuardTriggered` event).

The output half is its own layer, :mod:`llmprod.layers.output_guard`, which the stack
puts below the cache, so a blocked or replaced answer never reaches the cache.
"""

from __future__ import annotations

from .._core.call import Call, Layer, Opened
from .._core.config import Guards
from .._core.errors import InputRejectedError
from .._core.events import Emit, GuardTriggered
from .._core.models import ChatRequest
from .._safety.injection import score_injection
from ._estimate import context_window, prompt_tokens

_SCORED_ROLES = frozenset({"user", "tool"})


class GuardsLayer(Layer):
    """Refuses or flags a request before it goes further down the stack."""

    def __init__(self, inner: Layer, config: Guards, emit: Emit) -> None:
        super().__init__(inner)
        self.config = config
        self.emit = emit

    def _reject(self, call_id: str, guard: str, reason: str, score: float | None = None) -> InputRejectedError:
        self.emit(GuardTriggered(call_id, guard, "input", "block", reason))
        return InputRejectedError(reason, score=score)

    def check(self, request: ChatRequest, call_id: str = "") -> str | None:
        """Raise :class:`InputRejectedError` if a limit or the injection filter refuses
        ``request``; the flag to mark the answer with when the filter only flags it."""
        config = self.config
        if config.max_messages is not None and len(request.messages) > config.max_messages:
            count = len(request.messages)
            raise self._reject(call_id, "messages", f"{count} messages, over the limit of {config.max_messages}")
        self._check_sizes(request, call_id)
        if config.injection != "off":
            return self._check_injection(request, call_id)
        return None

    def _check_sizes(self, request: ChatRequest, call_id: str) -> None:
        chars = sum(len(m.text()) for m in request.messages)
        if self.config.max_chars is not None and chars > self.config.max_chars:
            limit = self.config.max_chars
            raise self._reject(call_id, "chars", f"prompt has {chars} characters, over the limit of {limit}")
        self._check_tokens(request, call_id)

    def _check_tokens(self, request: ChatRequest, call_id: str) -> None:
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
            raise self._reject(call_id, "tokens", reason)

    def _check_injection(self, request: ChatRequest, call_id: str) -> str | None:
        text = "\n".join(m.text() for m in request.messages if m.role in _SCORED_ROLES)
        score, rules = score_injection(text)
        if score < self.config.injection_threshold:
            return None
        reason = f"possible prompt injection ({', '.join(rules)}; score {score:.2f})"
        if self.config.injection == "block":
            raise self._reject(call_id, "injection", reason, score)
        self.emit(GuardTriggered(call_id, "injection", "input", "flag", reason))
        return "input:injection"

    async def open(self, call: Call) -> Opened:
        if call.operation == "embed":  # inputs to embed are data, not instructions: sizes only
            self._check_sizes(call.request, call.id)
            return await self.inner.open(call)
        flag = self.check(call.request, call.id)
        opened = await self.inner.open(call)
        if flag is not None:
            opened.flags = (flag, *opened.flags)
        return opened
