"""The attempt layer, innermost: bounds one attempt in time and records it.

Each attempt gets the smaller of the attempt timeout and the time left before the
call's deadline. When the deadline is the bound, running out raises
:class:`DeadlineExceededError` (nothing more can be tried); otherwise
:class:`ProviderTimeoutError`, which the retry layer may retry. A stream may also go
no longer than ``stream_idle`` between two chunks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from .._core.backend import Backend, Emit
from .._core.config import Timeout
from .._core.deadline import bounded
from .._core.errors import CircuitOpenError, DeadlineExceededError, LLMProdError, ProviderTimeoutError
from .._core.events import AttemptFinished
from .._core.models import AttemptRecord, ChatChunk, ChatRequest, ChatResponse, Outcome
from ._streams import aclose_stream


def _outcome(exc: BaseException | None) -> Outcome:
    if exc is None:
        return "ok"
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    if isinstance(exc, CircuitOpenError):
        return "circuit_open"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


class AttemptLayer:
    """Wraps one replica (its breaker included): time bound, attempt record, event."""

    def __init__(self, inner: Backend, config: Timeout, emit: Emit, *, deployment: str) -> None:
        self.inner = inner
        self.config = config
        self.emit = emit
        self.deployment = deployment
        self.name = inner.name

    def _record(self, request: ChatRequest, started: float, exc: BaseException | None, hedge: bool = False) -> None:
        record = AttemptRecord(
            deployment=self.deployment,
            replica=self.name,
            outcome=_outcome(exc),
            latency=time.monotonic() - started,
            error=type(exc).__name__ if exc is not None else None,
            hedge=hedge,
        )
        trace = request.trace
        if trace is not None:
            trace.record(record)
        self.emit(AttemptFinished(trace.call_id if trace else None, record))

    def _timeout_error(self, by_deadline: bool, limit: float | None) -> LLMProdError:
        if by_deadline:
            return DeadlineExceededError("the call's deadline passed during an attempt", deployment=self.deployment)
        return ProviderTimeoutError(f"attempt timed out after {limit:.3g}s", deployment=self.deployment)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        limit, by_deadline = bounded(request, self.config.attempt)
        started = time.monotonic()
        try:
            if limit is not None and limit <= 0:
                raise self._timeout_error(by_deadline, limit)
            try:
                async with asyncio.timeout(limit):
                    response = await self.inner.complete(request)
            except TimeoutError as exc:
                if isinstance(exc, LLMProdError):
                    raise
                raise self._timeout_error(by_deadline, limit) from None
        except BaseException as exc:
            self._record(request, started, exc)
            raise
        self._record(request, started, None)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        started = time.monotonic()
        recorded = False
        stream = self.inner.stream(request)
        try:
            while True:
                limit, by_deadline = bounded(request, self.config.stream_idle)
                if limit is not None and limit <= 0:
                    raise self._timeout_error(by_deadline, limit)
                try:
                    async with asyncio.timeout(limit):
                        chunk = await anext(stream)
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    if isinstance(exc, LLMProdError):
                        raise
                    if by_deadline:
                        raise self._timeout_error(True, limit) from None
                    raise ProviderTimeoutError(
                        f"stream idle for more than {limit:.3g}s", deployment=self.deployment
                    ) from None
                yield chunk
        except BaseException as exc:
            recorded = True
            self._record(request, started, exc)
            raise
        finally:
            await aclose_stream(stream)
        if not recorded:
            self._record(request, started, None)

    async def aclose(self) -> None:
        await self.inner.aclose()
