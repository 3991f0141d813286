"""What a replica's breaker counts, over real HTTP (the fault server): a caller's errors
never, and one call once, however often it is retried (issue 15, item 3). With
``Breaker(fail_max=3)`` and ``Retry(attempts=3)``, one bad call used to open a healthy
replica's breaker; five calls with bad input did too."""

from __future__ import annotations

from typing import Any

import pytest

import llmprod
from llmprod._core.events import BreakerStateChanged, Event
from llmprod.testing import Fault, FaultServer

RETRY = llmprod.Retry(attempts=3, initial=0.0, jitter=0.0)


def client(server: FaultServer, events: list[Event]) -> llmprod.AsyncClient:
    backend = llmprod.OpenAICompatible(base_url=server.url, model="m", name="replica")
    return llmprod.AsyncClient(
        backend, retry=RETRY, breaker=llmprod.Breaker(fail_max=3), telemetry=False, hooks=[events.append]
    )


def opened(events: list[Event]) -> int:
    return sum(isinstance(e, BreakerStateChanged) and e.new == "open" for e in events)


CALLER_FAULTS = {
    "400": Fault.error(400, "bad request"),
    "401": Fault.error(401),
    "403": Fault.error(403),
    "404 (unknown model)": Fault.error(404),
    "422": Fault.error(422),
    "content filter": Fault.error(400, "filtered", code="content_filter"),
}


@pytest.mark.parametrize("fault", list(CALLER_FAULTS.values()), ids=list(CALLER_FAULTS))
async def test_the_providers_answer_about_the_request_never_counts(fault_server: FaultServer, fault: Fault) -> None:
    events: list[Event] = []
    async with client(fault_server, events) as c:
        for mode in ("chat", "stream") * 3:
            fault_server.push(fault)
            with pytest.raises(llmprod.errors.ProviderError):
                if mode == "chat":
                    await c.chat("hi")
                else:
                    [x async for x in c.stream("hi")]
        assert (await c.chat("and now a good one")).text
    assert opened(events) == 0
    assert len(fault_server.requests) == 7  # not retried either


BAD_INPUT: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "a lone surrogate \ud800"}]},
    {"messages": [{"role": "user", "content": "hi"}], "extra_body": {"top_k": float("nan")}},
    {"messages": []},
]


async def test_bad_input_is_refused_before_sending_and_never_counts(fault_server: FaultServer) -> None:
    events: list[Event] = []
    async with client(fault_server, events) as c:
        for _ in range(5):
            for kwargs in BAD_INPUT:
                with pytest.raises(llmprod.InvalidRequestError):
                    await c.chat(**kwargs)
        assert (await c.chat("a good one")).text
    assert opened(events) == 0 and len(fault_server.requests) == 1


@pytest.mark.parametrize(
    "fault",
    [Fault.error(500, "internal error"), Fault.in_stream("internal error", after=1)],
    ids=["500", "error event in a 200 stream"],
)
async def test_one_call_counts_once_however_often_it_is_retried(fault_server: FaultServer, fault: Fault) -> None:
    events: list[Event] = []
    async with client(fault_server, events) as c:
        for calls in (1, 2):
            fault_server.push(fault, times=RETRY.attempts)
            with pytest.raises(llmprod.errors.ServerError):
                [x async for x in c.stream("hi")]
            assert opened(events) == 0, f"opened after {calls} call(s)"
        assert len(fault_server.requests) == 2 * RETRY.attempts
        # A third failed call is the third failure: its first attempt opens the breaker,
        # and its retry fails fast without reaching the server.
        fault_server.push(fault, times=RETRY.attempts)
        with pytest.raises(llmprod.CircuitOpenError):
            [x async for x in c.stream("hi")]
        assert opened(events) == 1
        assert len(fault_server.requests) == 2 * RETRY.attempts + 1
