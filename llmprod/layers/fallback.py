"""Fallback: try deployments in order until one answers.

What moves the call on to the next deployment is configurable (``FALLBACK_ON``):
a retryable failure (after that deployment's own retries), an open breaker, a
context window that is too small, or a content-policy refusal. Anything else (a bad
request, an exhausted deadline, a local limit) is raised at once. In a stream the
fallback acts on opening a call, that is only before the first chunk.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from .._core.backend import Backend
from .._core.call import Call, Layer, Opened, attempts_of, note_attempts
from .._core.clock import now
from .._core.errors import (
    AllBackendsFailedError,
    CircuitOpenError,
    ContentPolicyError,
    ContextWindowExceededError,
    DeadlineExceededError,
    UnsupportedOperationError,
    is_retryable,
)
from .._core.events import Emit, FallbackUsed
from .._core.models import AttemptRecord
from .attempt import as_layer

Trigger = Literal["retryable", "circuit_open", "context_window", "content_policy"]
FALLBACK_ON: tuple[Trigger, ...] = ("retryable", "circuit_open", "context_window", "content_policy")


def triggers(exc: BaseException, on: Collection[Trigger]) -> bool:
    """Whether ``exc`` should move the call on to the next deployment."""
    if isinstance(exc, DeadlineExceededError):
        return False
    if isinstance(exc, UnsupportedOperationError):  # this deployment cannot; the next may
        return True
    if isinstance(exc, CircuitOpenError):
        return "circuit_open" in on
    if isinstance(exc, ContextWindowExceededError):
        return "context_window" in on
    if isinstance(exc, ContentPolicyError):
        return "content_policy" in on
    return "retryable" in on and is_retryable(exc)


class FallbackLayer(Layer):
    """Ordered deployments; raises :class:`AllBackendsFailedError` with every cause.

    A chain of one deployment is no fallback: its own typed error reaches the caller
    (the stack does not build this layer for one deployment).
    """

    def __init__(self, chain: Sequence[Layer | Backend], emit: Emit, *, on: Collection[Trigger] = FALLBACK_ON) -> None:
        if not chain:
            raise ValueError("a fallback chain needs at least one deployment")
        self.chain = [as_layer(b) for b in chain]
        self.emit = emit
        self.on = frozenset(on)
        self.name = chain[0].name

    async def open(self, call: Call) -> Opened:
        _, _, opened = await open_in_order(call, self.chain, self.on, self.emit)
        return opened

    async def aclose(self) -> None:
        for backend in self.chain:
            await backend.aclose()


async def open_in_order(
    call: Call, chain: Sequence[Layer], on: Collection[Trigger], emit: Emit
) -> tuple[int, float, Opened]:
    """Open ``call`` on each layer of ``chain`` in turn until one opens it; returns its
    index, when it was tried (on the clock of :func:`~llmprod._core.clock.now`) and the
    opened call.

    An error that ``on`` does not list is raised at once; when every one fails,
    :class:`AllBackendsFailedError` carries each error, and every attempt made.
    """
    errors: list[BaseException] = []
    earlier: tuple[AttemptRecord, ...] = ()
    for index, backend in enumerate(chain):
        started = now()
        try:
            opened = await backend.open(call)
        except Exception as exc:
            if not triggers(exc, on):
                note_attempts(exc, earlier)
                raise
            errors.append(exc)
            earlier += attempts_of(exc)
            if index + 1 < len(chain):
                emit(FallbackUsed(call.id, failed=backend.name, next=chain[index + 1].name, error=type(exc).__name__))
            continue
        opened.attempts = earlier + opened.attempts
        return index, started, opened
    error = AllBackendsFailedError(errors)
    note_attempts(error, earlier)
    raise error from errors[-1]
