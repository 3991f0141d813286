"""The one shape of a call: a layer *opens* it and hands back what it opened.

A layer implements one operation::

    async def open(self, call: Call) -> Opened

Opening sends the call and waits until it is answered: in full when ``call.stream`` is
False, up to its first chunk when it is True. Retry, fallback, router, balance, hedge,
breaker and the attempt timeout act on ``open``, so "retry or fail over only before the
first chunk" holds by construction: after ``open`` returned there is nothing left to
retry. What a layer must do when the call ends — record the attempt, leave the
breaker, settle the cost, store the answer, end the span, report the call — it
registers with :meth:`Opened.on_close`. :meth:`Opened.close` runs those finishers once,
innermost first, in the same order for an answer (right after it arrived) and for a
stream (when it ends, breaks or is abandoned).

What layers learn travels back up on the :class:`Opened` they return (never down on the
request): the attempt log, the cost, cache and routing facts, PII counts, flags. The
outermost layer turns it into the caller's frozen :class:`ChatResponse` once.

:func:`complete` and :func:`stream` derive both ways of calling from ``open``, here and
nowhere else; :class:`Layer` is the base every policy (and a user's own layer) extends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Literal, Protocol

from .clock import now
from .errors import LLMProdError, OutputRejectedError, ProviderConnectionError, StreamInterruptedError
from .models import AttemptRecord, ChatChunk, ChatRequest, ChatResponse, Usage

# What a call asks for: a chat answer, embeddings, or an answer of OpenAI's Responses API.
# Each is the same shape (a call opened, then finished); a backend implements the ones
# its provider has (see :mod:`llmprod._core.backend`).
Operation = Literal["chat", "embed", "responses"]

_ids = itertools.count(1)
_PREFIX = f"call-{time.time_ns():x}"


class Call:
    """One call on its way down the stack: the request and how it is to be answered.

    ``deadline`` is absolute, on :func:`~llmprod._core.clock.now`'s clock; it is set once
    when the call starts (from ``timeout``) and bounds every wait below. A layer that
    changes the request (PII redaction, the tenant an API key maps to) passes a new
    call down with :meth:`with_request`; nothing else about a call changes.
    """

    __slots__ = ("deadline", "hedge", "id", "operation", "request", "started", "stream", "timeout")

    def __init__(
        self,
        request: ChatRequest,
        *,
        stream: bool = False,
        timeout: float | None = None,
        operation: Operation = "chat",
    ) -> None:
        self.request = request
        self.stream = stream
        self.timeout = timeout
        self.operation = operation
        self.id = f"{_PREFIX}-{next(_ids)}"
        self.started = 0.0
        self.deadline: float | None = None
        self.hedge = False

    def begin(self) -> Call:
        """Start the clock: the deadline is ``timeout`` from now (on the loop's clock)."""
        self.started = now()
        if self.timeout is not None:
            self.deadline = self.started + self.timeout
        return self

    def with_request(self, request: ChatRequest) -> Call:
        """The same call carrying another request."""
        other = self._copy()
        other.request = request
        return other

    def hedged(self) -> Call:
        """The same call, sent again as a hedge (its attempts are marked so)."""
        other = self._copy()
        other.hedge = True
        return other

    def _copy(self) -> Call:
        other = Call.__new__(Call)
        for name in Call.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    def time_left(self) -> float | None:
        """Seconds until the deadline (negative once passed), or None if unbounded."""
        return None if self.deadline is None else self.deadline - now()

    def bounded(self, limit: float | None) -> tuple[float | None, bool]:
        """The smaller of ``limit`` and the time left, and whether the deadline is the bound."""
        if self.deadline is None:
            return limit, False
        left = self.deadline - now()
        if limit is None or left <= limit:
            return max(left, 0.0), True
        return limit, False

    def __repr__(self) -> str:
        return f"Call(id={self.id!r}, stream={self.stream}, operation={self.operation!r})"


class Finisher(Protocol):
    """What :meth:`Opened.on_close` takes: a layer's ``finish`` step."""

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None: ...


_KEEP: Any = object()


class Opened:
    """What opening a call hands back: a whole answer, or a first chunk and the rest.

    ``response`` is the provider's answer: set at once for an answer, and when the last
    chunk passes for a stream (the chunk that carries the assembled response). ``first``
    and ``rest`` are the stream; ``rest`` is the one iterator layers wrap when they
    change chunks on the way up (most do not). ``received`` collects the text handed to
    the caller so far. The other attributes are what layers learned, set on the way up.
    """

    __slots__ = (
        "_closed",
        "_finishers",
        "attempts",
        "cached",
        "chunk_gaps",
        "cost",
        "final",
        "first",
        "flags",
        "opened_at",
        "pii",
        "received",
        "response",
        "rest",
        "route_reason",
        "stale",
        "tenant",
        "tier",
        "usage",
    )

    def __init__(
        self,
        response: ChatResponse | None = None,
        *,
        first: ChatChunk | None = None,
        rest: AsyncIterator[ChatChunk] | None = None,
    ) -> None:
        self.response = response
        self.first = first
        self.rest = rest
        self.received: list[str] = []
        self.attempts: tuple[AttemptRecord, ...] = ()
        self.cost: float | None = _KEEP
        self.usage: Usage | None = None
        self.cached = False
        self.stale = False
        self.tier: str | None = None
        self.tenant: str | None = None  # when a layer below resolved it (the caller's API key)
        self.route_reason: str | None = None
        self.flags: tuple[str, ...] = ()
        self.pii: dict[str, int] | None = None
        self.opened_at = 0.0
        self.chunk_gaps: list[float] | None = None  # filled by the telemetry layer when an SDK records
        self.final: ChatResponse | None = None  # the caller's response, once built
        self._finishers: list[tuple[Finisher, Any]] = []
        self._closed = False

    @classmethod
    def replay(cls, response: ChatResponse) -> Opened:
        """A whole answer handed on as a stream: its text in one chunk, then the final chunk."""
        final = ChatChunk(finish_reason=response.finish_reason, usage=response.usage, response=response)
        if not (response.text or response.tool_calls):
            return cls(first=final)
        deltas = tuple({"index": i, **call} for i, call in enumerate(response.tool_calls or ())) or None
        return cls(first=ChatChunk(text=response.text, tool_calls=deltas), rest=_once(final))

    @property
    def streaming(self) -> bool:
        return self.first is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def on_close(self, finisher: Finisher, state: Any = None) -> None:
        """Run ``finisher.finish(self, state, error)`` when the call ends (after the
        finishers registered before it: the inner layers')."""
        self._finishers.append((finisher, state))

    def add_pii(self, counts: dict[str, int]) -> None:
        if not counts:
            return
        total = dict(self.pii or {})
        for entity, n in counts.items():
            total[entity] = total.get(entity, 0) + n
        self.pii = total

    def settled(self) -> Opened:
        """A fresh, unfinished copy of a call already finished below (a call shared by
        several callers): the same answer and notes, for the layers above to finish."""
        copy = Opened(self.response, first=self.first, rest=self.rest)
        copy.attempts = self.attempts
        copy.cost = self.cost
        copy.usage = self.usage
        copy.cached = self.cached
        copy.stale = self.stale
        copy.tier = self.tier
        copy.tenant = self.tenant
        copy.route_reason = self.route_reason
        copy.flags = self.flags
        copy.pii = self.pii
        return copy

    async def close(self, error: BaseException | None = None) -> None:
        """Finish the call once: every finisher runs, innermost first, whatever happens.

        ``error`` is why the call ended early (None: it completed). A finisher that
        fails passes its error to the finishers after it, and :meth:`close` raises it
        at the end (a cancellation too, once every finisher has run).
        """
        if self._closed:
            return
        self._closed = True
        raised: BaseException | None = None
        for finisher, state in self._finishers:
            try:
                await finisher.finish(self, state, error)
            except BaseException as exc:
                if raised is None:
                    raised = exc
                if error is None:
                    error = exc
        self._finishers.clear()
        if raised is not None:
            raise raised

    async def close_quietly(self, error: BaseException) -> None:
        """Close after ``error`` (which the caller re-raises): a finisher's own failure
        is not allowed to hide it."""
        with contextlib.suppress(Exception):
            await self.close(error)

    def result(self, *, latency: float, ttft: float | None) -> ChatResponse:
        """The caller's response: the provider's answer with everything layers learned."""
        if self.final is not None:
            return self.final
        response = self.response
        assert response is not None, "result() of a call that has no answer"
        attempts = self.attempts
        return replace(
            response,
            usage=self.usage or response.usage,
            cost=response.cost if self.cost is _KEEP else self.cost,
            latency=latency,
            ttft=ttft if ttft is not None else response.ttft,
            cached=self.cached or response.cached,
            stale=self.stale or response.stale,
            attempts=max(len(attempts), 0 if self.cached else 1),
            attempt_log=attempts,
            tier=self.tier or response.tier,
            route_reason=self.route_reason or response.route_reason,
            pii_redacted=self.pii or response.pii_redacted,
            flagged=self.flags or response.flagged,
        )

    def annotated(self) -> ChatResponse:
        """The answer with what the layers below learned, for a layer that keeps it (the
        cache): no call latency yet."""
        response = self.response
        assert response is not None
        return replace(
            response,
            usage=self.usage or response.usage,
            cost=response.cost if self.cost is _KEEP else self.cost,
            tier=self.tier or response.tier,
            route_reason=self.route_reason or response.route_reason,
            flagged=self.flags or response.flagged,
        )


def attempts_of(exc: BaseException) -> tuple[AttemptRecord, ...]:
    """The attempts a failed open made (recorded on its error by the layers below)."""
    records: tuple[AttemptRecord, ...] = getattr(exc, "_llmprod_attempts", ())
    return records


def note_attempts(exc: BaseException, earlier: tuple[AttemptRecord, ...]) -> None:
    """Put ``earlier`` attempts in front of those ``exc`` already carries.

    A failed open travels up as an exception, so the attempts it made travel on it
    (as the cause chain does), for the layer that tries again to keep them.
    """
    if earlier:
        with contextlib.suppress(AttributeError):  # an exception without a __dict__ loses them
            exc._llmprod_attempts = earlier + attempts_of(exc)  # type: ignore[attr-defined]


class Layer:
    """A policy around the layer below it (``inner``): the base of every layer.

    Override :meth:`open` (and register a :meth:`finish` with ``opened.on_close`` when
    the layer has something to do at the end). ``complete`` and ``stream`` come with the
    base: any layer, or a whole stack, can be called like a backend.

    Example, a layer that logs how each call ended::

        class Audit(llmprod.layers.Layer):
            async def open(self, call):
                opened = await self.inner.open(call)
                opened.on_close(self, call.id)
                return opened

            async def finish(self, opened, call_id, error):
                print(call_id, "failed" if error else "ok")
    """

    name: str = "layer"

    def __init__(self, inner: Layer) -> None:
        if not hasattr(inner, "open"):
            raise TypeError(
                f"a layer wraps a layer, got {type(inner).__name__}: wrap a backend with llmprod.layers.as_layer()"
            )
        self.inner = inner
        self.name = inner.name

    async def open(self, call: Call) -> Opened:
        """Open ``call``: send it on (``self.inner.open``) and hand back what was opened:
        a whole answer, or a stream's first chunk and the rest. Raise to refuse or to
        report a failure; nothing is left to finish then."""
        return await self.inner.open(call)

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        """The call ended (``error`` None: it completed): what this layer registered with
        ``opened.on_close(self, state)`` to do then, innermost layers first."""
        return None

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` in one piece (no deadline unless a layer sets one)."""
        return await complete(self, Call(request).begin())

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Answer ``request`` as a stream (see :func:`stream`)."""
        return stream(self, Call(request, stream=True).begin())


async def complete(layer: Layer, call: Call) -> ChatResponse:
    """Open ``call`` for a whole answer and finish it."""
    if not call.started:
        call.begin()
    opened = await layer.open(call)
    await opened.close(None)
    return opened.result(latency=now() - call.started, ttft=None)


async def stream(layer: Layer, call: Call) -> AsyncIterator[ChatChunk]:
    """Open ``call`` as a stream and hand its chunks on; finish it at its end.

    The last chunk carries the caller's response (``chunk.response``), built after
    every finisher ran, so a stream reports exactly what :func:`complete` would. A
    failure after the first chunk reached the caller raises
    :class:`StreamInterruptedError` with the text received (an output guard's block is
    a verdict, not a break, and stays :class:`OutputRejectedError`).
    """
    if not call.started:
        call.begin()
    opened = await layer.open(call)
    opened.opened_at = now()
    chunk = opened.first
    assert chunk is not None, f"{layer.name} opened a stream without a first chunk"
    received = opened.received
    try:
        rest = opened.rest
        while chunk.response is None:
            if chunk.text:
                received.append(chunk.text)
            yield chunk
            if rest is None:
                raise _ended_early(layer.name)
            try:
                chunk = await anext(rest)
            except StopAsyncIteration:
                raise _ended_early(layer.name) from None
        opened.response = chunk.response
        if chunk.text:
            received.append(chunk.text)
        if rest is not None:  # the final chunk came: the iterators below stop here, now
            aclose = getattr(rest, "aclose", None)
            if aclose is not None:
                await aclose()
        await opened.close(None)
    except BaseException as exc:
        await _close_after(opened, exc)
        if received and isinstance(exc, Exception) and not isinstance(exc, _NOT_A_BREAK):
            raise StreamInterruptedError(
                f"stream broke after {len(received)} chunks: {type(exc).__name__}",
                partial_text="".join(received),
                deployment=getattr(exc, "deployment", None),
            ) from exc
        raise
    final = opened.result(latency=now() - call.started, ttft=opened.opened_at - call.started)
    yield ChatChunk(
        text=chunk.text,
        finish_reason=final.finish_reason,
        usage=final.usage,
        tool_calls=chunk.tool_calls,
        response=final,
    )


_NOT_A_BREAK = (StreamInterruptedError, OutputRejectedError)


async def _close_after(opened: Opened, exc: BaseException) -> None:
    if opened.rest is not None:
        aclose = getattr(opened.rest, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    if opened.closed:
        return
    if isinstance(exc, GeneratorExit | asyncio.CancelledError):
        # Abandoned or cancelled: the finishers must run all the same (they release the
        # breaker, the budget, the connection), and a second cancellation must not cut
        # them short.
        await asyncio.shield(opened.close_quietly(asyncio.CancelledError()))
    else:
        await opened.close_quietly(exc)


def _ended_early(layer_name: str) -> LLMProdError:
    return ProviderConnectionError(f"the stream from {layer_name} ended before its final chunk")


async def _once(chunk: ChatChunk) -> AsyncIterator[ChatChunk]:
    yield chunk
