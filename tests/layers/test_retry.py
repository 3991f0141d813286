"""The retry layer: pure decisions driven by tables, then the layer on FakeBackend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmprod import (
    CircuitOpenError,
    DeadlineExceededError,
    Message,
    ProviderError,
    RateLimitedError,
    Retry,
    StreamInterruptedError,
)
from llmprod._core.events import Event, RetryScheduled
from llmprod.backends import ChatRequest
from llmprod.backends._http import status_error
from llmprod.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectError,
    MalformedResponseError,
    NotFoundError,
    ProviderConnectionError,
    ProviderTimeoutError,
    ServerError,
)
from llmprod.layers import as_layer
from llmprod.layers.retry import RetryLayer, backoff, retry_wait, should_retry
from llmprod.testing import FakeBackend

from .calls import answer

D = "dep"
RETRY_NOW = Retry(attempts=3, initial=0.0)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ServerError("x", status=500), True),
        (status_error(502, "", deployment=D), True),
        (status_error(503, "", deployment=D), True),
        (status_error(504, "", deployment=D), True),
        (status_error(529, "overloaded", deployment=D), True),
        (status_error(408, "", deployment=D), True),
        (status_error(409, "", deployment=D), True),
        (status_error(429, "", deployment=D), True),
        (ConnectError("refused"), True),
        (ProviderConnectionError("reset"), True),
        (ProviderTimeoutError("slow"), True),
        (status_error(400, "bad", deployment=D), False),
        (status_error(401, "", deployment=D), False),
        (status_error(403, "", deployment=D), False),
        (status_error(404, "", deployment=D), False),
        (status_error(422, "", deployment=D), False),
        (BadRequestError("x", status=400), False),
        (AuthenticationError("x", status=401), False),
        (NotFoundError("x", status=404), False),
        (MalformedResponseError("x"), True),  # a provider fault: another attempt may well succeed
        (CircuitOpenError(D), False),
        (DeadlineExceededError("late"), False),
        (RateLimitedError("local", source="local"), False),
        (ValueError("a bug"), False),
    ],
)
def test_should_retry(exc: BaseException, expected: bool) -> None:
    assert should_retry(exc) is expected


CONFIG = Retry(attempts=10, initial=0.5, maximum=4.0, exp_base=2.0, jitter=0.25)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.5, 0.5),  # no jitter at the midpoint
        (2, 0.5, 1.0),
        (3, 0.5, 2.0),
        (4, 0.5, 4.0),
        (5, 0.5, 4.0),  # capped
        (1, 0.0, 0.375),  # jitter: -25 %
        (1, 1.0, 0.625),  # jitter: +25 %
        (4, 1.0, 4.0),  # jitter never passes the cap
        (50, 0.5, 4.0),  # no overflow
    ],
)
def test_backoff(attempt: int, rand: float, expected: float) -> None:
    assert backoff(attempt, CONFIG, rand) == pytest.approx(expected)


def _limited(after: float | None) -> RateLimitedError:
    return RateLimitedError("429", source="provider", retry_after=after)


@pytest.mark.parametrize(
    ("exc", "attempt", "left", "expected"),
    [
        (ServerError("x", status=503), 1, None, 0.5),
        (ServerError("x", status=503), 9, None, 4.0),
        (ServerError("x", status=503), 10, None, None),  # attempts exhausted
        (BadRequestError("x", status=400), 1, None, None),
        (_limited(3.0), 1, None, 3.0),  # Retry-After replaces the backoff
        (_limited(0.0), 1, None, 0.0),
        (_limited(61.0), 1, None, None),  # longer than max_retry_after
        (_limited(3.0), 1, 10.0, 3.0),
        (_limited(3.0), 1, 2.0, None),  # the deadline comes first: give up at once
        (ServerError("x", status=503, retry_after=1.5), 1, None, 1.5),
        (ServerError("x", status=503), 1, 0.4, None),  # backoff past the deadline
        (ServerError("x", status=503), 1, -1.0, None),  # deadline already passed
        (CircuitOpenError(D, retry_after=0.1), 1, None, None),
    ],
)
def test_retry_wait(exc: BaseException, attempt: int, left: float | None, expected: float | None) -> None:
    assert retry_wait(exc, attempt, CONFIG, left=left, rand=0.5) == expected


# --- the layer --------------------------------------------------------------------------


class Sleeps:
    """An injected sleep that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def request() -> ChatRequest:
    return ChatRequest(messages=(Message("user", "hi"),))


def script(*answers: object) -> FakeBackend:
    """A backend that gives ``answers`` in order, then repeats the last."""
    queue = list(answers)

    def handler(_: ChatRequest) -> object:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return FakeBackend(handler)  # type: ignore[arg-type]


def layer(backend: FakeBackend, sleeps: Sleeps, events: list[Event] | None = None, **config: float) -> RetryLayer:
    sink = events.append if events is not None else (lambda e: None)
    return RetryLayer(as_layer(backend), Retry(**config), sink, deployment=D, sleep=sleeps, rand=lambda: 0.5)  # type: ignore[arg-type]


async def test_retries_until_success_with_backoff_and_events() -> None:
    backend = script(ServerError("a", status=503), ProviderConnectionError("b"), "ok")
    sleeps, events = Sleeps(), []
    response = await layer(backend, sleeps, events, attempts=3, initial=0.1).complete(request())
    assert response.text == "ok"
    assert len(backend.requests) == 3
    assert sleeps.waits == pytest.approx([0.1, 0.2])
    scheduled = [e for e in events if isinstance(e, RetryScheduled)]
    assert [(e.attempt, e.error) for e in scheduled] == [(1, "ServerError"), (2, "ProviderConnectionError")]
    assert scheduled[0].delay == pytest.approx(0.1) and scheduled[0].deployment == D


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    backend = script(ServerError("first", status=500), ServerError("last", status=502))
    with pytest.raises(ServerError, match="last"):
        await layer(backend, Sleeps(), attempts=3).complete(request())
    assert len(backend.requests) == 3


@pytest.mark.parametrize(
    "exc",
    [BadRequestError("x", status=400), AuthenticationError("x", status=401), CircuitOpenError(D), ValueError("bug")],
)
async def test_non_retryable_is_tried_once(exc: Exception) -> None:
    backend = script(exc, "ok")
    sleeps = Sleeps()
    with pytest.raises(type(exc)):
        await layer(backend, sleeps, attempts=5).complete(request())
    assert len(backend.requests) == 1 and sleeps.waits == []


async def test_honours_retry_after() -> None:
    backend = script(_limited(2.5), "ok")
    sleeps = Sleeps()
    assert (await layer(backend, sleeps).complete(request())).text == "ok"
    assert sleeps.waits == [2.5]


async def test_retry_after_past_the_deadline_gives_up_at_once() -> None:
    backend = script(_limited(30.0), "ok")
    sleeps = Sleeps()
    with pytest.raises(RateLimitedError) as info:
        await answer(layer(backend, sleeps), request(), timeout=5.0)
    assert info.value.source == "provider" and info.value.retry_after == 30.0
    assert sleeps.waits == [] and len(backend.requests) == 1


async def test_a_backoff_longer_than_the_time_left_is_not_slept() -> None:
    backend = script(ServerError("x", status=503), "ok")
    sleeps = Sleeps()
    # backoff 1 s > 0.3 s left: no sleep at all, the 503 is raised.
    with pytest.raises(ServerError):
        await answer(layer(backend, sleeps, initial=1.0, jitter=0.0), request(), timeout=0.3)
    assert sleeps.waits == [] and len(backend.requests) == 1


async def test_stream_is_retried_before_the_first_chunk() -> None:
    backend = script(ServerError("x", status=503), "one two three")
    sleeps = Sleeps()
    chunks = [c async for c in layer(backend, sleeps).stream(request())]
    assert "".join(c.text for c in chunks) == "one two three"
    assert chunks[-1].response is not None and len(backend.requests) == 2 and len(sleeps.waits) == 1


async def test_stream_is_not_retried_after_the_first_chunk() -> None:
    calls = 0

    class Breaks(FakeBackend):
        async def stream(self, request: ChatRequest):  # type: ignore[no-untyped-def,override]
            nonlocal calls
            calls += 1
            yield replace(await anext(super().stream(request)))
            raise ProviderConnectionError("cut")

    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in layer(Breaks(lambda r: "hello world"), Sleeps()).stream(request()):
            seen.append(chunk.text)
    assert isinstance(info.value.__cause__, ProviderConnectionError)
    assert seen == ["hello "] and calls == 1 and info.value.partial_text == "hello "


async def test_stream_after_first_chunk_surfaces_as_interrupted_through_the_client() -> None:
    import llmprod

    class Breaks(FakeBackend):
        async def stream(self, request: ChatRequest):  # type: ignore[no-untyped-def,override]
            self.requests.append(request)
            yield llmprod.ChatChunk(text="partial")
            raise ProviderConnectionError("cut")

    backend = Breaks(lambda r: "")
    async with llmprod.AsyncClient(
        backend, retry=Retry(attempts=3, initial=0.0), breaker=None, telemetry=False
    ) as client:
        with pytest.raises(StreamInterruptedError) as info:
            async for _ in client.stream("hi"):
                pass
    assert info.value.partial_text == "partial" and len(backend.requests) == 1


async def test_attempt_log_counts_every_retry_through_the_client() -> None:
    import llmprod

    backend = script(ServerError("x", status=503), ProviderTimeoutError("slow"), "ok")
    async with llmprod.AsyncClient(
        backend, retry=Retry(attempts=3, initial=0.0), breaker=None, telemetry=False
    ) as client:
        r = await client.chat("hi")
    assert r.attempts == 3
    assert [a.outcome for a in r.attempt_log] == ["error", "timeout", "ok"]
    assert [a.error for a in r.attempt_log] == ["ServerError", "ProviderTimeoutError", None]


def test_provider_error_retryable_flag_is_respected() -> None:
    assert should_retry(ProviderError("x", status=418, retryable=True))
    assert not should_retry(ProviderError("x", status=418, retryable=False))
