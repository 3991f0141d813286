"""OpenTelemetryHook metrics, read back through the SDK's in-memory metric reader."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import llmprod
from llmprod import AsyncClient, Breaker, Cache, CircuitOpenError, Retry
from llmprod.errors import AuthenticationError, ServerError
from llmprod.events import (
    BreakerStateChanged,
    BudgetAlert,
    GuardTriggered,
    PIIRedacted,
    RateLimitHit,
    StreamResumed,
)
from llmprod.telemetry import OpenTelemetryHook
from llmprod.testing import FakeBackend

Reader = tuple[MeterProvider, InMemoryMetricReader]


def points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any]]:
    """(attributes, point) of every data point of metric ``name``."""
    data = reader.get_metrics_data()
    out: list[tuple[dict[str, Any], Any]] = []
    if data is None:
        return out
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    out += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
    return out


def total(reader: InMemoryMetricReader, name: str, **match: Any) -> float:
    found = [
        p for attrs, p in points(reader, name) if all(attrs.get(k.replace("__", ".")) == v for k, v in match.items())
    ]
    return sum(getattr(p, "value", None) if hasattr(p, "value") else p.count for p in found)


def client(reader: Reader, deployments: Any, **options: Any) -> AsyncClient:
    provider, _ = reader
    c = AsyncClient(deployments, **{"retry": None, "breaker": None, **options})
    c.hooks.append(
        OpenTelemetryHook(c.deployments, meter_provider=provider, labels={"service.name": "svc"}, spans=False)
    )
    return c


async def test_genai_client_metrics_on_success(metric_reader: Reader) -> None:
    _, reader = metric_reader
    sim = llmprod.Simulated("sim-m", latency=llmprod.backends.Latency(median=0.001, p99=0.002), answer_tokens=5)
    async with client(metric_reader, sim) as c:
        r = await c.chat("hello there")
        [x async for x in c.stream("hello there")]
    ((d1, duration),) = points(reader, "gen_ai.client.operation.duration")  # chat and stream share one series
    assert duration.count == 2
    assert d1 == {
        "service.name": "svc",
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "simulated",  # the v1.36.0 name, by default (see test_conventions.py)
        "gen_ai.request.model": "sim-m",
        "gen_ai.response.model": "sim-m",
        "llmprod.cached": False,
    }
    assert total(reader, "gen_ai.client.token.usage", gen_ai__token__type="output") == 2
    tokens = {a["gen_ai.token.type"]: p.sum for a, p in points(reader, "gen_ai.client.token.usage")}
    assert tokens == {"input": 2 * r.usage.prompt_tokens, "output": 10}
    (_, ttft) = points(reader, "gen_ai.client.operation.time_to_first_chunk")[0]
    assert ttft.count == 1  # streams only
    assert total(reader, "llmprod.client.requests.in_flight") == 0
    (_, cost) = points(reader, "llmprod.client.cost")[0]
    assert r.cost is not None and cost.value == pytest.approx(2 * r.cost)
    assert total(reader, "llmprod.attempts", llmprod__attempt__outcome="ok") == 2


async def test_error_type_on_duration(metric_reader: Reader) -> None:
    _, reader = metric_reader
    async with client(metric_reader, FakeBackend(lambda r: AuthenticationError("no", status=401))) as c:
        with pytest.raises(AuthenticationError):
            await c.chat("hello")
    ((attrs, point),) = points(reader, "gen_ai.client.operation.duration")
    assert attrs["error.type"] == "AuthenticationError"
    assert "gen_ai.response.model" not in attrs
    assert point.count == 1
    assert points(reader, "gen_ai.client.token.usage") == []
    assert total(reader, "llmprod.client.requests.in_flight") == 0


async def test_retry_fallback_cache_breaker_counters(metric_reader: Reader) -> None:
    pytest.importorskip("llmprod.layers.retry")
    pytest.importorskip("llmprod.layers.breaker")
    pytest.importorskip("llmprod.layers.cache")
    _, reader = metric_reader
    down = FakeBackend(lambda r: ServerError("down", status=503), name="down")
    up = FakeBackend(lambda r: "ok", name="up")
    options = {"retry": Retry(attempts=2, initial=0.0, maximum=0.0), "breaker": Breaker(fail_max=2), "cache": Cache()}
    async with client(metric_reader, [down, up], **options) as c:
        await c.chat("q1", temperature=0)  # "down" fails twice; one call counts once: 1 of 2
        await c.chat("q1", temperature=0)  # cache hit
        await c.chat("q2", temperature=0)  # "down" fails: 2 of 2, it opens; the retry fails fast
        await c.chat("q3", temperature=0)  # open: fails fast, falls back at once
    assert total(reader, "llmprod.retries", llmprod__deployment="down", error__type="ServerError") == 2
    assert total(reader, "llmprod.fallbacks", llmprod__fallback__from="down", llmprod__fallback__to="up") == 3
    assert total(reader, "llmprod.cache.lookups", llmprod__cache__outcome="hit") == 1
    assert total(reader, "llmprod.cache.lookups", llmprod__cache__outcome="miss") == 3
    assert total(reader, "llmprod.breaker.transitions", llmprod__breaker__state="open") == 1
    assert total(reader, "llmprod.attempts", llmprod__attempt__outcome="circuit_open") >= 1
    assert CircuitOpenError.__name__ in {a.get("error.type") for a, _ in points(reader, "llmprod.fallbacks")}


@pytest.mark.parametrize(
    ("event", "metric", "expected", "value"),
    [
        (
            PIIRedacted("c", "input", {"EMAIL": 2, "PHONE": 1}),
            "llmprod.pii.redactions",
            {"llmprod.pii.type": "EMAIL", "llmprod.pii.direction": "input"},
            2,
        ),
        (
            GuardTriggered("c", "injection", "input", "block", "score 0.9"),
            "llmprod.guard.triggers",
            {"llmprod.guard": "injection", "llmprod.guard.direction": "input", "llmprod.guard.action": "block"},
            1,
        ),
        (
            RateLimitHit("c", "requests_per_minute", 0.0, True),
            "llmprod.rate_limit.hits",
            {"llmprod.rate_limit.limit": "requests_per_minute", "llmprod.rate_limit.rejected": True},
            1,
        ),
        (
            BudgetAlert("client", "soft", 9.0, 10.0),
            "llmprod.budget.alerts",
            {"llmprod.budget": "client", "llmprod.budget.kind": "soft"},
            1,
        ),
        (
            StreamResumed("c", "d", 120, 1, "ProviderConnectionError"),
            "llmprod.stream.resumes",
            {"llmprod.deployment": "d", "error.type": "ProviderConnectionError"},
            1,
        ),
        (
            BreakerStateChanged("d", "r", "closed", "open"),
            "llmprod.breaker.transitions",
            {"llmprod.deployment": "d", "llmprod.replica": "r", "llmprod.breaker.state": "open"},
            1,
        ),
    ],
)
def test_event_counters(metric_reader: Reader, event: Any, metric: str, expected: dict[str, Any], value: int) -> None:
    provider, reader = metric_reader
    OpenTelemetryHook(meter_provider=provider)(event)
    found = {tuple(sorted(a.items())): p.value for a, p in points(reader, metric)}
    assert found[tuple(sorted(expected.items()))] == value
    for attrs, _ in points(reader, metric):
        assert "score 0.9" not in attrs.values()  # a guard's reason never becomes a label


async def test_feedback_metrics(metric_reader: Reader) -> None:
    _, reader = metric_reader
    async with client(metric_reader, FakeBackend(lambda r: "ok")) as c:
        r = await c.chat("hello")
        c.feedback(r.id, score=4, label="helpful")
        c.feedback(r.id, label="hallucination")
        with pytest.raises(llmprod.InvalidRequestError):
            c.feedback(r.id)
        with pytest.raises(llmprod.InvalidRequestError):
            c.feedback(r.id, score=float("nan"))
        with pytest.raises(llmprod.InvalidRequestError):
            c.feedback("", score=1)
    assert total(reader, "llmprod.feedback", llmprod__feedback__label="helpful") == 1
    assert total(reader, "llmprod.feedback", llmprod__feedback__label="hallucination") == 1
    ((_, score),) = points(reader, "llmprod.feedback.score")
    assert (score.count, score.sum) == (1, 4.0)
