"""Fallback: try deployments in order until one answers.

What moves the call on to the next deployment is configurable (``FALLBACK_ON``):
a retryable failure (after that deployment's own retries), an open breaker, a
context window that is too small, or a content-policy refusal. Anything else (a bad
request, an exhausted deadline, a local limit) is raised at once. In a stream the
fallback acts only before the first chunk has reached the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from typing import Literal

from .._core.backend import Backend, Emit
from .._core.errors import (
    AllBackendsFailedError,
    CircuitOpenError,
    ContentPolicyError,
    ContextWindowExceededError,
    DeadlineExceededError,
    StreamInterruptedError,
    is_retryable,
)
from .._core.events import FallbackUsed
from .._core.models import ChatChunk, ChatRequest, ChatResponse

Trigger = Literal["retryable", "circuit_open", "context_window", "content_policy"]
FALLBACK_ON: tuple[Trigger, ...] = ("retryable", "circuit_open", "context_window", "content_policy")


def triggers(exc: BaseException, on: Collection[Trigger]) -> bool:
    """Whether ``exc`` should move the call on to the next deployment."""
    if isinstance(exc, DeadlineExceededError):
        return False
    if isinstance(exc, CircuitOpenError):
        return "circuit_open" in on
    if isinstance(exc, ContextWindowExceededError):
        return "context_window" in on
    if isinstance(exc, ContentPolicyError):
        return "content_policy" in on
    return "retryable" in on and is_retryable(exc)


class FallbackLayer:
    """Ordered deployments; raises :class:`AllBackendsFailedError` with every cause.

    A chain of one deployment is no fallback: its own typed error reaches the caller.
    """

    def __init__(self, chain: Sequence[Backend], emit: Emit, *, on: Collection[Trigger] = FALLBACK_ON) -> None:
        if not chain:
            raise ValueError("a fallback chain needs at least one deployment")
        self.chain = list(chain)
        self.emit = emit
        self.on = frozenset(on)
        self.name = chain[0].name

    def _moved_on(self, request: ChatRequest, index: int, exc: BaseException) -> None:
        if index + 1 < len(self.chain):
            trace = request.trace
            self.emit(
                FallbackUsed(
                    trace.call_id if trace else None,
                    failed=self.chain[index].name,
                    next=self.chain[index + 1].name,
                    error=type(exc).__name__,
                )
            )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if len(self.chain) == 1:
            return await self.chain[0].complete(request)
        errors: list[BaseException] = []
        for index, backend in enumerate(self.chain):
            try:
                return await backend.complete(request)
            except Exception as exc:
                if not triggers(exc, self.on):
                    raise
                errors.append(exc)
                self._moved_on(request, index, exc)
        raise AllBackendsFailedError(errors) from errors[-1]

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if len(self.chain) == 1:
            return self.chain[0].stream(request)
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        errors: list[BaseException] = []
        for index, backend in enumerate(self.chain):
            started = False
            try:
                async for chunk in backend.stream(request):
                    started = True
                    yield chunk
                return
            except StreamInterruptedError:
                raise
            except Exception as exc:
                if started or not triggers(exc, self.on):
                    raise
                errors.append(exc)
                self._moved_on(request, index, exc)
        raise AllBackendsFailedError(errors) from errors[-1]

    async def aclose(self) -> None:
        for backend in self.chain:
            await backend.aclose()
