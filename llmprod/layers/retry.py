"""Retry: another attempt after a retryable failure, with capped exponential backoff.

The decisions are pure functions (:func:`should_retry`, :func:`backoff`,
:func:`retry_wait`); tenacity's ``AsyncRetrying`` drives them. Waits honour the
provider's ``Retry-After`` and never pass the call's deadline: when the next wait
would, the layer gives up at once with the last error (a 429 stays a
``RateLimitedError`` carrying its ``retry_after``). An open breaker is never retried.
It acts on opening a call, so a stream is retried only until its first chunk.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState

from .._core.call import Call, Layer, Opened, attempts_of, note_attempts
from .._core.config import Retry
from .._core.errors import CircuitOpenError, is_retryable
from .._core.events import Emit, RetryScheduled
from .._core.models import AttemptRecord

Sleep = Callable[[float], Awaitable[None]]


def should_retry(exc: BaseException) -> bool:
    """Whether ``exc`` may succeed on another attempt (never for an open breaker)."""
    return not isinstance(exc, CircuitOpenError) and is_retryable(exc)


def backoff(attempt: int, config: Retry, rand: float) -> float:
    """The wait after failed attempt ``attempt`` (1-based): exponential, jittered, capped.

    ``rand`` in [0, 1) spreads the wait by ``config.jitter`` either side of the base.
    """
    base = min(config.maximum, config.initial * config.exp_base ** (attempt - 1))
    return min(config.maximum, base * (1 + config.jitter * (2 * rand - 1)))


def retry_wait(exc: BaseException, attempt: int, config: Retry, *, left: float | None, rand: float) -> float | None:
    """Seconds to wait before the next attempt, or None to give up with ``exc``.

    ``left`` is the time before the deadline (None: unbounded). A provider's
    ``retry_after`` replaces the backoff, so the retry comes no earlier than asked.
    """
    if attempt >= config.attempts or not should_retry(exc):
        return None
    asked = getattr(exc, "retry_after", None)
    if isinstance(asked, int | float):
        if asked > config.max_retry_after:
            return None
        wait = float(asked)
    else:
        wait = backoff(attempt, config, rand)
    if left is not None and wait >= left:
        return None
    return wait


class _Plan:
    """One call's retry decisions, shared by tenacity's ``retry`` and ``wait`` hooks.

    It also keeps the attempts that failed, so that the answer (or the final error)
    carries every attempt of the call.
    """

    def __init__(self, layer: RetryLayer, call: Call) -> None:
        self.layer = layer
        self.call = call
        self.wait = 0.0
        self.done = 1  # the first attempt runs before tenacity is involved (see RetryLayer)
        self.earlier: tuple[AttemptRecord, ...] = ()

    def retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        assert exc is not None
        return self.decide(exc, self.done + state.attempt_number)

    def decide(self, exc: BaseException, attempt: int) -> bool:
        """Whether to try again after failed attempt ``attempt``; sets the wait and reports it."""
        config = self.layer.config
        wait = retry_wait(exc, attempt, config, left=self.call.time_left(), rand=self.layer.rand())
        if wait is None:
            note_attempts(exc, self.earlier)
            return False
        self.earlier += attempts_of(exc)
        self.wait = wait
        self.layer.emit(
            RetryScheduled(
                self.call.id,
                deployment=self.layer.deployment,
                attempt=attempt,
                delay=wait,
                error=type(exc).__name__,
            )
        )
        return True

    def next_wait(self, state: RetryCallState) -> float:
        return self.wait

    def retrying(self) -> AsyncRetrying:
        # A fresh AsyncRetrying per call: tenacity keeps per-call state on the object.
        return AsyncRetrying(sleep=self.layer.sleep, retry=self.retry, wait=self.next_wait, reraise=True)


class RetryLayer(Layer):
    """Retries the deployment below it (its balancer or its single replica)."""

    def __init__(
        self,
        inner: Layer,
        config: Retry,
        emit: Emit,
        *,
        deployment: str,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(inner)
        self.config = config
        self.emit = emit
        self.deployment = deployment
        self.sleep = sleep
        self.rand = rand

    # The first attempt runs directly: most calls succeed, and building tenacity's
    # machinery for each of them costs more than the call's whole stack. Only after a
    # failure worth retrying does tenacity take over, for the attempts that remain.
    async def open(self, call: Call) -> Opened:
        try:
            return await self.inner.open(call)
        except Exception as exc:
            plan = _Plan(self, call)
            if not plan.decide(exc, 1):
                raise
        await self.sleep(plan.wait)
        opened: Opened = await plan.retrying()(self.inner.open, call)
        opened.attempts = plan.earlier + opened.attempts
        return opened
