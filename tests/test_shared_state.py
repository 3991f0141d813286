"""State shared by many processes through one Redis, chosen once with ``redis_url``.

The two-process tests run two real client processes (tests/shared_state_worker.py)
against one real ``redis-server``; the only thing the processes share is the Redis
URL. The provider is the loopback fault server in this process (its request log shows
what reached it) or the simulated provider inside each worker.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import llmprod
from llmprod._client.config_file import describe_config, load_config
from llmprod._core.events import BreakerStateChanged, Event
from llmprod.cost._ledger import RedisLedger
from llmprod.cost._spend_redis import RedisLedgerStore, RedisSpend
from llmprod.testing import Fault, FaultServer, refused_url

WORKER = Path(__file__).with_name("shared_state_worker.py")
START_TIMEOUT_S = 40.0  # a cold interpreter importing llmprod on a loaded 2-core machine


class Worker:
    """One client process; ``go()`` releases its calls, ``result()`` collects them."""

    def __init__(self, scenario: str, redis_url: str, server_url: str, calls: int) -> None:
        args = [sys.executable, str(WORKER), scenario, redis_url, server_url, str(calls)]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )

    def ready(self) -> None:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
        line = self.proc.stdout.readline() if readable else ""
        if line.strip() != "ready":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            pytest.fail(f"worker did not start: {line!r}\n{err[-3000:]}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail("worker did not finish within 60 s")
        assert self.proc.returncode == 0, err[-3000:]
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def start(scenario: str, redis_url: str, server_url: str, calls: tuple[int, int]) -> tuple[Worker, Worker]:
    """Two workers, started together and both ready (their clients built)."""
    workers = (Worker(scenario, redis_url, server_url, calls[0]), Worker(scenario, redis_url, server_url, calls[1]))
    for w in workers:
        w.ready()
    return workers


@pytest.fixture
def server() -> Any:
    with FaultServer() as s:
        yield s


@pytest.fixture
def workers() -> Any:
    started: list[Worker] = []
    yield started
    for w in started:
        w.kill()


# -- two processes, one Redis --------------------------------------------------------------


@pytest.mark.redis
def test_two_processes_share_one_rate_limit(redis_server: Any, workers: list[Worker]) -> None:
    a, b = start("rate_limit", redis_server.url, "http://127.0.0.1:1/v1", (10, 10))
    workers += [a, b]
    a.go()
    b.go()
    outcomes = a.result()["outcomes"] + b.result()["outcomes"]
    # 10 requests a minute for the pair, not for each: 20 tried, exactly 10 admitted
    # (one token refills every 6 s; the calls are released together and take well under that).
    assert outcomes.count("ok") == 10
    assert outcomes.count("RateLimitedError") == 10


@pytest.mark.redis
def test_one_process_opens_the_breaker_and_the_other_fails_fast(
    redis_server: Any, server: FaultServer, workers: list[Worker]
) -> None:
    server.always(Fault.error(500))
    a, b = start("breaker", redis_server.url, server.url, (4, 2))
    workers += [a, b]
    a.go()
    tripped = a.result()["outcomes"]
    assert tripped[:3] == ["ServerError"] * 3  # fail_max=3: the third failure opens it
    assert tripped[3] == "CircuitOpenError"
    assert len(server.requests) == 3
    b.go()  # B never failed itself: it reads the open state from Redis
    assert b.result()["outcomes"] == ["CircuitOpenError", "CircuitOpenError"]
    assert len(server.requests) == 3  # nothing from B reached the server


@pytest.mark.redis
def test_one_process_fills_the_cache_and_the_other_hits_it(
    redis_server: Any, server: FaultServer, workers: list[Worker]
) -> None:
    a, b = start("cache", redis_server.url, server.url, (1, 1))
    workers += [a, b]
    a.go()
    first = a.result()
    assert first["outcomes"] == ["ok"] and first["cached"] == [False]
    b.go()
    second = b.result()
    assert second["outcomes"] == ["ok"] and second["cached"] == [True]
    assert len(server.requests) == 1


@pytest.mark.redis
async def test_two_processes_cannot_overspend_one_hard_budget(redis_server: Any, workers: list[Worker]) -> None:
    a, b = start("budget", redis_server.url, "http://127.0.0.1:1/v1", (12, 12))
    workers += [a, b]
    a.go()
    b.go()
    results = [a.result(), b.result()]
    outcomes = [o for r in results for o in r["outcomes"]]
    costs = [c for r in results for c in r["costs"]]
    assert set(outcomes) <= {"ok", "BudgetExceededError"}
    # $0.25 hard; each call reserves $0.028 and costs $0.024. One process alone would
    # admit 8 of its 12 ($0.192); without sharing the pair would spend $0.384.
    assert 8 <= outcomes.count("ok") <= 10  # 8 while all are in flight; up to 10 as early ones settle
    assert sum(costs) <= 0.25
    spend = RedisSpend(redis_server.url)
    ledger = RedisLedgerStore(redis_server.url)
    try:
        assert await spend.spent("client@total") == pytest.approx(sum(costs))
        report = await ledger.report()  # the ledger's totals are shared too
    finally:
        await spend.aclose()
        await ledger.aclose()
    assert report.total.requests == outcomes.count("ok")
    assert report.total.errors == outcomes.count("BudgetExceededError")
    assert report.total.cost == pytest.approx(sum(costs))


# -- one URL for every layer ---------------------------------------------------------------

URL = "redis://:secret-pw@127.0.0.1:6390/2"


async def test_redis_url_fills_every_configured_layer_and_turns_none_on() -> None:
    pytest.importorskip("redis")
    own = "redis://127.0.0.1:6391/0"
    client = llmprod.AsyncClient(
        cache=llmprod.Cache(),
        rate_limit=llmprod.RateLimit(requests_per_minute=60, redis_url=own),
        redis_url=URL,
    )
    try:
        config = client.config
        assert config.breaker is not None and config.breaker.redis_url == URL
        assert config.cache is not None and config.cache.redis_url == URL
        assert config.rate_limit is not None and config.rate_limit.redis_url == own  # its own wins
        assert config.budget is None and config.pii is None  # off stays off
        assert isinstance(client.ledger, RedisLedger)
        assert "secret-pw" not in repr(client) + repr(config)
    finally:
        await client.aclose()


async def test_without_redis_url_nothing_is_shared() -> None:
    client = llmprod.AsyncClient(cache=llmprod.Cache())
    try:
        assert client.config.breaker is not None and client.config.breaker.redis_url is None
        assert client.config.cache is not None and client.config.cache.redis_url is None
        assert not isinstance(client.ledger, RedisLedger)
    finally:
        await client.aclose()


@pytest.mark.parametrize("bad", ["http://127.0.0.1:6379", "", 6379, "127.0.0.1:6379"])
def test_a_bad_redis_url_is_a_config_error(bad: Any) -> None:
    with pytest.raises(llmprod.ConfigError, match="redis_url: expected a Redis URL"):
        llmprod.AsyncClient(redis_url=bad)


def test_config_file_redis_section_sets_the_shared_url(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    path = tmp_path / "llmprod.toml"
    path.write_text(
        '[[deployments]]\nprovider = "simulated"\n[cache]\nttl = 60\n[redis]\nurl = "${LLMPROD_TEST_REDIS}"\n'
    )
    os.environ["LLMPROD_TEST_REDIS"] = URL
    try:
        spec = load_config(path)
    finally:
        del os.environ["LLMPROD_TEST_REDIS"]
    assert spec.options["redis_url"] == URL
    text = describe_config(spec)
    assert "shared state in Redis" in text and "secret-pw" not in text
    client = llmprod.Client.from_config({"deployments": [{"provider": "simulated"}], "redis": {"url": URL}})
    try:
        breaker = client.aio.config.breaker
        assert breaker is not None and breaker.redis_url == URL
    finally:
        client.close()


@pytest.mark.parametrize(
    ("section", "path"),
    [({"url": "http://x"}, "redis.url"), ({"host": "x"}, "redis.host"), ({}, "redis.url"), ("redis://x", "redis")],
)
def test_config_file_redis_section_errors_name_the_key(section: Any, path: str) -> None:
    with pytest.raises(llmprod.ConfigError) as info:
        load_config({"deployments": [{"provider": "simulated"}], "redis": section})
    assert info.value.path == path
    assert "http://x" not in str(info.value)


# -- the breaker's blocking Redis client stays off the event loop ------------------------------


@pytest.mark.redis
async def test_redis_breaker_works_off_the_loop_and_hooks_run_on_it(redis_server: Any) -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []

    def hook(event: Event) -> None:
        if isinstance(event, BreakerStateChanged):
            seen.append((event.new, threading.get_ident()))

    async with FaultServer() as server:
        server.always(Fault.error(500))
        backend = llmprod.OpenAICompatible(model="m", base_url=server.url, api_key="sk-test")
        breaker = llmprod.Breaker(fail_max=2, reset_timeout=60)
        async with llmprod.AsyncClient(
            backend, retry=None, breaker=breaker, redis_url=redis_server.url, hooks=[hook]
        ) as c:
            for _ in range(2):
                with pytest.raises(llmprod.errors.ServerError):
                    await c.chat("hi", max_tokens=4)
            with pytest.raises(llmprod.CircuitOpenError):
                await c.chat("hi", max_tokens=4)
    assert seen == [("open", loop_thread)]  # pybreaker changed state on a worker thread


def test_a_breaker_whose_redis_is_down_still_builds(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("redis")
    url = refused_url().replace("http://", "redis://").removesuffix("/v1")
    with caplog.at_level(logging.WARNING, logger="llmprod"):
        client = llmprod.Client(breaker=llmprod.Breaker(redis_url=url))
    try:
        assert client.chat("hello").text  # the breaker reads as closed while Redis is away
    finally:
        client.close()
    assert "breaker state store unreachable (ConnectionError)" in caplog.text
    assert url not in caplog.text
