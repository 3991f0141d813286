"""The call layer, outermost: reports each call and holds it to its deadline.

It emits :class:`CallStarted` when a call opens and :class:`CallFinished` when it
ends — after every layer below has finished, for an answer and for a stream alike —
with the caller's response (latency, time to first chunk, the attempt log) or the
error's type. Opening is bounded by the call's deadline plus ``Timeout.grace``: a layer
that would hang past it is cut off with :class:`DeadlineExceededError`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .._core.call import Call, Layer, Opened
from .._core.clock import now
from .._core.errors import DeadlineExceededError, LLMProdError
from .._core.events import CallFinished, CallStarted, Emit


class CallLayer(Layer):
    def __init__(self, inner: Layer, emit: Emit, *, grace: float, default_model: str | None) -> None:
        super().__init__(inner)
        self.emit = emit
        self.grace = grace
        self.default_model = default_model  # reported on CallFinished when the call names none

    def _finished(self, call: Call, error: BaseException | None, opened: Opened | None) -> None:
        request = call.request
        latency = now() - call.started
        response = None
        ttft = None
        if error is None and opened is not None:
            ttft = opened.opened_at - call.started if opened.first is not None else None
            response = opened.final = opened.result(latency=latency, ttft=ttft)
        self.emit(
            CallFinished(
                call_id=call.id,
                stream=call.stream,
                latency=latency,
                response=response,
                error=None if error is None else _error_name(error),
                model=request.model or self.default_model,
                tenant=(opened.tenant if opened is not None else None) or request.metadata.tenant,
                tags=request.metadata.tags,
                slo=request.metadata.slo,
                ttft=ttft,
                chunk_gaps=tuple(opened.chunk_gaps) if opened is not None and opened.chunk_gaps else (),
                operation=call.operation,
            )
        )

    async def open(self, call: Call) -> Opened:
        request = call.request
        self.emit(CallStarted(call.id, request.model, call.stream, request.metadata.tenant))
        deadline = call.deadline
        try:
            if deadline is None:
                opened = await self.inner.open(call)
            else:
                backstop = asyncio.timeout(max(deadline - now(), 0.0) + self.grace)
                try:
                    async with backstop:
                        opened = await self.inner.open(call)
                except TimeoutError as exc:
                    if isinstance(exc, LLMProdError) or not backstop.expired():
                        raise
                    raise DeadlineExceededError("the call's deadline passed") from None
        except BaseException as exc:
            self._finished(call, exc, None)
            raise
        opened.on_close(self, call)
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        self._finished(state, error, opened)


def _error_name(error: BaseException) -> str:
    return "CancelledError" if isinstance(error, GeneratorExit) else type(error).__name__
