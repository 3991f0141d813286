"""llmprod as a Ray Serve deployment, on a real local Ray instance (CPU, simulated provider).

One Ray instance and one app for the module (starting Ray is most of the cost): the
app answers through a Serve handle and over HTTP on the local proxy, to the real
openai SDK too, and scales out from one replica under load. Those tests are skipped
without ray[serve] (the nox session ``ray`` installs it); the pure parts run everywhere.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

import llmprod
from llmprod import ray_serve
from llmprod._core.errors import BudgetExceededError, CircuitOpenError, InvalidRequestError, RateLimitedError

APP = "llmprod-test"
SCALE_TIMEOUT_S = 45.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Each replica builds its own client from this (pickled to it): 0.3 s per answer, so
# concurrent requests pile up as ongoing requests, which is what autoscaling watches.
CLIENT = functools.partial(
    llmprod.AsyncClient, llmprod.Simulated(latency=llmprod.backends.Latency(median=0.3, p99=0.3)), retry=None
)


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[Any, str]]:
    ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'llmprod[ray]'")
    serve = pytest.importorskip("ray.serve")
    port = _free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = ray_serve.app(
            CLIENT,
            name="chat",
            autoscaling_config={
                "min_replicas": 1,
                "max_replicas": 2,
                "target_ongoing_requests": 1,
                "upscale_delay_s": 0,
                "downscale_delay_s": 600,
            },
            ray_actor_options={"num_cpus": 0},  # the replicas fit on a 2-core CI machine
        )
        handle = serve.run(app, name=APP, route_prefix="/", blocking=False)
        assert _running() == 1  # min_replicas: the scale-out test starts from here
        yield handle, f"http://127.0.0.1:{port}"
    finally:
        started = time.monotonic()
        serve.shutdown()
        ray.shutdown()
        assert time.monotonic() - started < 30, "Ray Serve did not shut down within 30 s"


def _running() -> int:
    from ray import serve

    app = serve.status().applications[APP]
    return int(app.deployments["chat"].replica_states.get("RUNNING", 0))


def _body(i: int, **extra: Any) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 8, **extra}


async def test_concurrent_calls_through_the_serve_handle(deployed: tuple[Any, str]) -> None:
    handle, _ = deployed
    answers = await asyncio.gather(*(handle.chat.remote(_body(i)) for i in range(12)))
    for a in answers:
        assert a["object"] == "chat.completion"
        assert a["choices"][0]["message"]["content"]
        assert a["usage"]["completion_tokens"] == 8 and a["choices"][0]["finish_reason"] == "length"
        assert a["llmprod"]["deployment"] == "sim-small" and a["llmprod"]["attempts"] == 1
    assert len({a["id"] for a in answers}) == 12


async def test_concurrent_http_calls_on_the_local_proxy(deployed: tuple[Any, str]) -> None:
    import httpx

    _, url = deployed
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        replies = await asyncio.gather(*(http.post("/v1/chat/completions", json=_body(i)) for i in range(12)))
        assert [r.status_code for r in replies] == [200] * 12
        assert all(r.json()["choices"][0]["message"]["content"] for r in replies)
        bad = await http.post("/v1/chat/completions", json={"messages": "not a list"})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "InvalidRequestError"
        assert (await http.post("/v1/chat/completions", content=b"{not json")).status_code == 400
        assert (await http.get("/v1/nothing-here")).status_code == 404


async def test_the_openai_sdk_talks_to_the_deployment(deployed: tuple[Any, str]) -> None:
    openai = pytest.importorskip("openai")
    _, url = deployed
    sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    try:
        r = await sdk.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
        assert r.choices[0].message.content and r.usage is not None and r.usage.completion_tokens == 5
        stream = await sdk.chat.completions.create(
            model="any", messages=[{"role": "user", "content": "hi"}], max_tokens=5, stream=True
        )
        chunks = [c async for c in stream]
    finally:
        await sdk.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.split() == r.choices[0].message.content.split()  # the simulated answer is deterministic
    assert chunks[-1].choices[0].finish_reason == "length" and len({c.id for c in chunks}) == 1


async def test_the_deployment_scales_out_under_load(deployed: tuple[Any, str]) -> None:
    handle, _ = deployed  # it started with one replica (checked when deployed)
    deadline = time.monotonic() + SCALE_TIMEOUT_S
    while _running() < 2:  # keep 8 requests in flight (target: 1 per replica) until a second replica runs
        assert time.monotonic() < deadline, f"no second replica after {SCALE_TIMEOUT_S} s of load"
        await asyncio.gather(*(handle.chat.remote(_body(i)) for i in range(8)))
    answers = await asyncio.gather(*(handle.chat.remote(_body(i)) for i in range(8)))
    assert all(a["choices"][0]["message"]["content"] for a in answers)


# -- pure parts, no Ray needed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequestError("bad", field="messages"), 400),
        (RateLimitedError("slow down", source="local", retry_after=2.0), 429),
        (BudgetExceededError("no money", budget="client@total", limit=1.0, spent=1.0), 429),
        (CircuitOpenError("d"), 503),
        (llmprod.DeadlineExceededError("late"), 504),
        (llmprod.errors.ServerError("boom", status=500), 502),
        (llmprod.errors.NotFoundError("no model", status=404), 404),
    ],
)
def test_errors_map_to_http_statuses(error: llmprod.LLMProdError, status: int) -> None:
    body = ray_serve.error_body(error)
    assert body["error"]["status"] == status and body["error"]["type"] == type(error).__name__


async def test_chat_server_works_without_ray() -> None:
    server = ray_serve.ChatServer({"deployments": [{"provider": "simulated"}]})
    try:
        ok = await server.chat(_body(1))
        bad = await server.chat({"messages": []})
    finally:
        await server.aclose()
    assert ok["choices"][0]["message"]["content"]
    assert bad["error"]["status"] == 400


def test_without_ray_building_a_deployment_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(llmprod.errors.MissingDependencyError, match=r"llmprod\[ray\]"):
        ray_serve.app({"deployments": [{"provider": "simulated"}]})


def test_import_llmprod_ray_serve_does_not_import_ray() -> None:
    code = "import llmprod.ray_serve, sys; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
