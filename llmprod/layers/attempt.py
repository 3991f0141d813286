"""The attempt layer, innermost: turns a backend into the call shape, one attempt at a time.

A backend answers in one piece (``complete``) or as a stream (``stream``); this layer
calls the one the call asks for and opens it: the whole answer, or the first chunk.
It bounds the attempt in time — the smaller of ``Timeout.attempt`` and the time left
before the call's deadline; for a stream, each later chunk gets ``stream_idle``, also
within the deadline — and records it (an :class:`AttemptRecord` on the answer, or on
the error when it fails, and an :class:`AttemptFinished` event) when it ends.

Running out of time raises :class:`DeadlineExceededError` when the deadline was the
bound (nothing more can be tried), else :class:`ProviderTimeoutError`, which the retry
layer may retry. A stream that ends without its final chunk was cut:
:class:`ProviderConnectionError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from .._core.backend import Backend
from .._core.call import Call, Layer, Opened, note_attempts
from .._core.clock import now
from .._core.config import Timeout
from .._core.errors import (
    CircuitOpenError,
    DeadlineExceededError,
    LLMProdError,
    ProviderConnectionError,
    ProviderTimeoutError,
    UnsupportedOperationError,
)
from .._core.events import AttemptFinished, Emit
from .._core.models import AttemptRecord, ChatChunk, Outcome

# operation -> (method for a whole answer, method for a stream); None: not streamable
_METHODS: dict[str, tuple[str | None, str | None]] = {
    "embed": ("embed", None),
    "responses": ("respond", "respond_stream"),
}


def outcome(exc: BaseException | None) -> Outcome:
    if exc is None:
        return "ok"
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    if isinstance(exc, CircuitOpenError):
        return "circuit_open"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


class AttemptLayer(Layer):
    """Wraps one replica's backend: time bound, attempt record, event."""

    def __init__(self, backend: Backend, config: Timeout, emit: Emit, *, deployment: str) -> None:
        self.backend = backend
        self.config = config
        self.emit = emit
        self.deployment = deployment
        self.name = backend.name

    def _record(self, call: Call, started: float, exc: BaseException | None) -> AttemptRecord:
        record = AttemptRecord(
            deployment=self.deployment,
            replica=self.name,
            outcome=outcome(exc),
            latency=now() - started,
            error=type(exc).__name__ if exc is not None else None,
            hedge=call.hedge,
        )
        self.emit(AttemptFinished(call.id, record))
        return record

    def _timeout_error(self, by_deadline: bool, limit: float | None, what: str = "attempt") -> LLMProdError:
        if by_deadline:
            return DeadlineExceededError(f"the call's deadline passed during an {what}", deployment=self.deployment)
        return ProviderTimeoutError(f"{what} timed out after {limit:.3g}s", deployment=self.deployment)

    async def open(self, call: Call) -> Opened:
        started = now()
        wanted = self.config.attempt if not call.stream else min(self.config.attempt, self.config.stream_idle)
        limit, by_deadline = call.bounded(wanted)
        raw: AsyncIterator[ChatChunk] | None = None
        try:
            if limit is not None and limit <= 0:
                raise self._timeout_error(by_deadline, limit)
            try:
                async with asyncio.timeout(limit):
                    if call.stream:
                        send = self.backend.stream if call.operation == "chat" else self._method(call)
                        raw = send(call.request)
                        opened = Opened(first=await _first(raw, self.name))
                    else:
                        answer = self.backend.complete if call.operation == "chat" else self._method(call)
                        opened = Opened(await answer(call.request))
            except TimeoutError as exc:
                if isinstance(exc, LLMProdError):
                    raise
                raise self._timeout_error(by_deadline, limit) from None
        except BaseException as exc:
            if raw is not None:
                await _aclose(raw)
            note_attempts(exc, (self._record(call, started, exc),))
            raise
        if raw is not None:
            opened.rest = self._rest(raw, call)
        opened.on_close(self, (call, started, raw))
        return opened

    def _method(self, call: Call) -> Any:
        """The backend's method for an operation other than chat (see ``Backend``)."""
        name = _METHODS[call.operation][call.stream]
        method = getattr(self.backend, name, None) if name else None
        if method is None:
            what = f"{call.operation} (streamed)" if call.stream else call.operation
            raise UnsupportedOperationError(
                f"{type(self.backend).__name__} does not support {what}",
                operation=call.operation,
                deployment=self.deployment,
            )
        return method

    async def _rest(self, raw: AsyncIterator[ChatChunk], call: Call) -> AsyncIterator[ChatChunk]:
        idle = self.config.stream_idle
        try:
            while True:
                limit, by_deadline = call.bounded(idle)
                if limit is not None and limit <= 0:
                    raise self._timeout_error(by_deadline, limit, "idle stream")
                try:
                    async with asyncio.timeout(limit):
                        chunk = await anext(raw)
                except StopAsyncIteration:
                    raise ProviderConnectionError(
                        "the stream ended before its final chunk", deployment=self.deployment
                    ) from None
                except TimeoutError as exc:
                    if isinstance(exc, LLMProdError):
                        raise
                    if by_deadline:
                        raise self._timeout_error(True, limit, "idle stream") from None
                    raise ProviderTimeoutError(
                        f"stream idle for more than {limit:.3g}s", deployment=self.deployment
                    ) from None
                yield chunk
                if chunk.response is not None:
                    return
        finally:
            await _aclose(raw)

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        call, started, raw = state
        if raw is not None:
            await _aclose(raw)
        opened.attempts = (*opened.attempts, self._record(call, started, error))

    async def aclose(self) -> None:
        await self.backend.aclose()


def as_layer(inner: Layer | Backend) -> Layer:
    """``inner`` as a layer: a backend (a provider) gets an attempt layer of its own,
    with the default time limits; a layer is returned as it is."""
    if isinstance(inner, Layer) or hasattr(inner, "open"):
        return inner  # type: ignore[return-value]
    return AttemptLayer(inner, Timeout(), _ignore, deployment=inner.name)


def _ignore(event: object) -> None:
    return None


async def _first(raw: AsyncIterator[ChatChunk], name: str) -> ChatChunk:
    try:
        return await anext(raw)
    except StopAsyncIteration:
        raise ProviderConnectionError(f"the stream from {name} ended before its first chunk") from None


async def _aclose(stream: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
