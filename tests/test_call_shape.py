"""One shape for a call: a chat and a stream of the same call go through the same steps,
closing a stream closes everything below it, and a user's layer sits where it is put."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import llmprod
from llmprod import Deployment, Hedge, OpenAICompatible, Retry
from llmprod._client.config_file import describe_config, load_config
from llmprod.errors import ServerError
from llmprod.events import AttemptFinished, CallFinished, CallStarted, Event, FallbackUsed, RetryScheduled
from llmprod.layers import Call, Insert, Layer, Opened
from llmprod.testing import FakeBackend, Fault, FaultServer


def _flaky_then(text: str) -> FakeBackend:
    """Fails with a 503 on every other request, answering ``text`` in between."""
    count = 0

    def handler(_: object) -> object:
        nonlocal count
        count += 1
        return ServerError("busy", status=503) if count % 2 else text

    return FakeBackend(handler, name="flaky")  # type: ignore[arg-type]


def _summary(event: Event) -> tuple[Any, ...]:
    if isinstance(event, AttemptFinished):
        return ("attempt", event.record.deployment, event.record.outcome, event.record.error)
    if isinstance(event, RetryScheduled):
        return ("retry", event.attempt, event.error)
    if isinstance(event, CallFinished):
        return ("finished", event.error, event.response.attempts if event.response else None)
    return (type(event).__name__,)


@pytest.mark.looptime
async def test_a_chat_and_a_stream_of_the_same_call_go_through_the_same_steps() -> None:
    down = FakeBackend(lambda r: ServerError("down", status=503), name="down")
    events: list[Event] = []
    async with llmprod.AsyncClient(
        [down, _flaky_then("one two three")],
        retry=Retry(attempts=2, initial=0.01, jitter=0.0),
        breaker=None,
        hooks=[events.append],
        telemetry=False,
    ) as client:
        chat = await client.chat("hi")
        chat_events = [_summary(e) for e in events]
        events.clear()
        chunks = [c async for c in client.stream("hi")]
        stream_events = [_summary(e) for e in events]
    streamed = chunks[-1].response
    assert streamed is not None and "".join(c.text for c in chunks) == chat.text == "one two three"
    assert stream_events == chat_events
    assert chat_events == [
        ("CallStarted",),
        ("attempt", "down", "error", "ServerError"),
        ("retry", 1, "ServerError"),
        ("attempt", "down", "error", "ServerError"),
        ("FallbackUsed",),
        ("attempt", "flaky", "error", "ServerError"),
        ("retry", 1, "ServerError"),
        ("attempt", "flaky", "ok", None),
        ("finished", None, 4),
    ]
    strip = [(a.deployment, a.outcome, a.error) for a in chat.attempt_log]
    assert strip == [(a.deployment, a.outcome, a.error) for a in streamed.attempt_log]
    assert chat.attempts == streamed.attempts == 4
    assert streamed.cost == chat.cost and streamed.usage == chat.usage


async def test_a_failed_chat_and_stream_report_the_same_events() -> None:
    events: list[Event] = []
    down = FakeBackend(lambda r: ServerError("down", status=503), name="down")
    async with llmprod.AsyncClient(down, retry=None, breaker=None, hooks=[events.append], telemetry=False) as c:
        with pytest.raises(ServerError):
            await c.chat("hi")
        chat_events = [_summary(e) for e in events]
        events.clear()
        with pytest.raises(ServerError):
            async for _ in c.stream("hi"):
                pass
    assert [_summary(e) for e in events] == chat_events
    assert chat_events == [
        ("CallStarted",),
        ("attempt", "down", "error", "ServerError"),
        ("finished", "ServerError", None),
    ]
    assert isinstance(events[0], CallStarted)


# -- closing the caller's stream closes every stream below it ------------------------------


async def _settled(condition: Callable[[], bool]) -> None:
    """Wait for the servers to see what the client did (bounded; ordering, not timing)."""
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the servers never saw the connection close")
        await asyncio.sleep(0.01)


def _slow_stream() -> Fault:
    return Fault.slow(chunk_delay=0.5)  # a long answer, one frame every half second


def _backend(server: FaultServer, name: str, **options: Any) -> OpenAICompatible:
    return OpenAICompatible(base_url=server.url, model="m", name=name, **options)


async def _open_and_abandon(client: llmprod.AsyncClient, **kwargs: Any) -> str:
    stream = client.stream("tell me a long story", **kwargs)
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    return first.text


@pytest.mark.parametrize("shape", ["fallback", "router", "balance", "hedge"])
async def test_closing_the_outer_stream_closes_every_inner_one(shape: str) -> None:
    async with FaultServer() as a, FaultServer() as b:
        if shape == "fallback":
            a.always(Fault.error(503))
            b.always(_slow_stream())
            deployments: Any = [_backend(a, "a"), _backend(b, "b")]
            options: dict[str, Any] = {}
        elif shape == "router":
            a.always(Fault.error(503))
            b.always(_slow_stream())
            deployments = [
                Deployment(replicas=[_backend(a, "a")], name="small", tier="small"),
                Deployment(replicas=[_backend(b, "b")], name="large", tier="large"),
            ]
            options = {"router": llmprod.Router()}
        elif shape == "balance":
            a.always(_slow_stream())
            b.always(_slow_stream())
            deployments = Deployment(replicas=[_backend(a, "a"), _backend(b, "b")], balance="round_robin")
            options = {}
        else:
            a.always(Fault.slow(delay=5.0, chunk_delay=0.5))  # no first chunk for 5 s: hedged
            b.always(_slow_stream())
            deployments = Deployment(
                replicas=[_backend(a, "a"), _backend(b, "b")],
                balance="round_robin",
                hedge=Hedge(delay=0.05, max_extra=1.0),
            )
            options = {}
        # The servers that stream: their connections must close with the caller's stream (the
        # other one answered a whole 503 and may keep an idle connection in the pool).
        streaming = [b] if shape in ("fallback", "router") else [a, b]
        async with llmprod.AsyncClient(deployments, retry=None, telemetry=False, **options) as client:
            for _ in range(3):
                assert await _open_and_abandon(client, **({"tier": "small"} if shape == "router" else {}))
                await _settled(lambda: all(s.open_connections == 0 for s in streaming))
            assert b.connections >= 1


class Tracked(FakeBackend):
    """Streams a long answer and records, in its own ``finally``, that it was closed."""

    def __init__(self, name: str, *, fail: bool = False, first_delay: float = 0.0) -> None:
        super().__init__(lambda r: ServerError("down", status=503) if fail else "word " * 50, name=name)
        self.first_delay = first_delay
        self.open_streams = 0

    async def stream(self, request: Any) -> Any:  # type: ignore[override]
        self.open_streams += 1
        try:
            await asyncio.sleep(self.first_delay)
            async for chunk in super().stream(request):
                yield chunk
        finally:
            self.open_streams -= 1


@pytest.mark.parametrize("shape", ["fallback", "router", "balance", "hedge"])
async def test_closing_the_outer_stream_closes_the_inner_ones_before_it_returns(shape: str) -> None:
    # Not later, when the garbage collector finalizes an abandoned generator: by the time
    # the caller's aclose() returns, every stream below it has run its finally.
    a = Tracked("a", fail=shape in ("fallback", "router"), first_delay=5.0 if shape == "hedge" else 0.0)
    b = Tracked("b")
    options: dict[str, Any] = {}
    if shape == "fallback":
        deployments: Any = [a, b]
    elif shape == "router":
        deployments = [Deployment(replicas=[a], tier="small"), Deployment(replicas=[b], tier="large")]
        options["router"] = llmprod.Router()
    else:
        hedge = Hedge(delay=0.01, max_extra=1.0) if shape == "hedge" else None
        deployments = Deployment(replicas=[a, b], balance="round_robin", hedge=hedge)
    async with llmprod.AsyncClient(deployments, retry=None, breaker=None, telemetry=False, **options) as client:
        stream = client.stream("hi", **({"tier": "small"} if shape == "router" else {}))
        assert (await anext(stream)).text
        assert a.open_streams + b.open_streams == 1
        await stream.aclose()  # type: ignore[attr-defined]
        assert a.open_streams == b.open_streams == 0


# -- a layer of one's own --------------------------------------------------------------------


class Audit(Layer):
    """Records each call it opens and how each ended."""

    seen: ClassVar[list[tuple[str, bool, str]]] = []

    async def open(self, call: Call) -> Opened:
        opened = await self.inner.open(call)
        opened.on_close(self, call)
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        call: Call = state
        Audit.seen.append((call.request.messages[0].text(), call.stream, "ok" if error is None else "error"))


async def test_a_user_layer_inserted_by_name_sees_chats_and_streams() -> None:
    Audit.seen = []
    async with llmprod.AsyncClient(
        FakeBackend(lambda r: "fine thanks"),
        cache=llmprod.Cache(),
        layers=[Insert("audit", Audit, before="cache")],
        telemetry=False,
    ) as client:
        await client.chat("how are you")
        chunks = [c async for c in client.stream("and now streamed")]
        await client.chat("how are you")  # a cache hit: the layer above the cache still sees it
        names = [line.split()[0] for line in client.describe().splitlines()[1:] if line.startswith("  ")]
    assert "".join(c.text for c in chunks) == "fine thanks"
    assert Audit.seen == [("how are you", False, "ok"), ("and now streamed", True, "ok"), ("how are you", False, "ok")]
    assert names.index("audit") == names.index("cache") - 1


async def test_a_user_layer_per_replica_is_built_once_per_replica() -> None:
    built: list[str] = []

    def per_replica(inner: Layer) -> Layer:
        built.append(inner.name)
        return Audit(inner)

    replicas = [FakeBackend(lambda r: "x", name="r1"), FakeBackend(lambda r: "x", name="r2")]
    async with llmprod.AsyncClient(
        Deployment(replicas=replicas), layers=[Insert("audit", per_replica, after="breaker")], telemetry=False
    ) as client:
        assert (await client.chat("hi")).text == "x"
    assert built == ["r1", "r2"]


@pytest.mark.parametrize(
    ("insert", "message"),
    [
        (Insert("audit", Audit, before="nope"), "no layer named 'nope'"),
        (Insert("call", Audit, after="cost"), "already in the stack"),
        (Insert("audit", Audit, before="call"), "outermost"),
        (Insert("audit", Audit, after="attempt"), "innermost"),
    ],
)
def test_a_misplaced_layer_is_refused_with_a_config_error(insert: Insert, message: str) -> None:
    with pytest.raises(llmprod.ConfigError, match=message):
        llmprod.AsyncClient(FakeBackend(lambda r: "x"), layers=[insert])


# -- the stack is data: the client and check-config print the same --------------------------

CONFIG: dict[str, Any] = {
    "deployments": [
        {"provider": "simulated", "model": "sim-small", "name": "primary"},
        {"provider": "simulated", "model": "sim-large", "name": "backup"},
    ],
    "retry": {"attempts": 4},
    "breaker": {"failure_rate": 0.6, "minimum_calls": 10},
    "cache": {"ttl": 600},
    "pii": {"mode": "pseudonymize"},
    "guards": {"max_prompt_tokens": 4000},
    "budget": {"hard": 5.0, "window": "day"},
    "rate_limit": {"requests_per_minute": 60},
}


def test_describe_equals_what_check_config_prints() -> None:
    with llmprod.Client.from_config(CONFIG) as client:
        printed = client.describe()
    assert printed == describe_config(load_config(CONFIG))
    layers = [line.split()[0] for line in printed.splitlines()[1:] if line.startswith("  ")]
    assert layers[:11] == [
        "call",
        "telemetry",
        "guards",
        "rate_limit",
        "pii",
        "cache",
        "cost",
        "fallback",
        "retry",
        "balance",
        "breaker",
    ]
    assert "60% failures of >= 10 calls" in printed and "up to 4 attempts" in printed


def test_the_cli_prints_the_same_stack(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from llmprod.cli import main

    path = tmp_path / "llmprod.toml"
    path.write_text(
        '[[deployments]]\nprovider = "simulated"\nmodel = "sim-small"\n\n[cache]\nttl = 60\n', encoding="utf-8"
    )
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    with llmprod.Client.from_config(path) as client:
        assert client.describe() in out


def test_fallback_event_is_emitted_between_deployments() -> None:
    events: list[Event] = []
    down = FakeBackend(lambda r: ServerError("down", status=503), name="down")
    with llmprod.Client([down, FakeBackend(lambda r: "up")], retry=None, hooks=[events.append]) as client:
        assert client.chat("hi").text == "up"
    assert [e.failed for e in events if isinstance(e, FallbackUsed)] == ["down"]
