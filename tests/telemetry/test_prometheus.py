"""Prometheus: a real /metrics endpoint on loopback, scraped over HTTP and parsed."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

import llmprod
from llmprod import AsyncClient, ConfigError
from llmprod.errors import AuthenticationError
from llmprod.testing import FakeBackend

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from llmprod.telemetry import PrometheusHook, metrics_wsgi_app, serve_metrics  # noqa: E402


def scrape(url: str) -> dict[str, list[Any]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(families: dict[str, list[Any]], sample_name: str, **labels: str) -> float:
    family = sample_name
    for suffix in ("_total", "_count", "_sum", "_bucket"):
        family = family.removesuffix(suffix)
    for candidate in (family, sample_name):
        for sample in families.get(candidate, []):
            if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {sample_name}{labels}")


async def test_scrape_metrics_endpoint() -> None:
    registry = prometheus_client.CollectorRegistry()
    sim = llmprod.Simulated("sim-p", latency=llmprod.backends.Latency(median=0.001, p99=0.002), answer_tokens=6)
    failing = FakeBackend(lambda r: AuthenticationError("no", status=401), name="broken", model="bad-m")
    with serve_metrics(0, registry=registry) as server:
        assert server.address == "127.0.0.1"
        async with AsyncClient(sim, retry=None, breaker=None, hooks=[PrometheusHook(registry=registry)]) as client:
            responses = [await client.chat(f"question {i}", tenant="acme") for i in range(3)]
            [c async for c in client.stream("streamed")]
        async with AsyncClient(failing, retry=None, breaker=None, hooks=[PrometheusHook(registry=registry)]) as bad:
            with pytest.raises(AuthenticationError):
                await bad.chat("hello")
        families = scrape(f"http://127.0.0.1:{server.port}/metrics")

    ok = {"model": "sim-p", "deployment": "sim-p"}
    assert value(families, "llmprod_requests_total", **ok, outcome="ok") == 4
    # A failed call has no answering deployment; its model is the one asked for (by default, the
    # first deployment's own).
    assert value(families, "llmprod_requests_total", model="bad-m", deployment="", outcome="error") == 1
    assert value(families, "llmprod_request_errors_total", model="bad-m", error_type="AuthenticationError") == 1
    assert value(families, "llmprod_request_duration_seconds_count", **ok, outcome="ok") == 4
    assert value(families, "llmprod_request_duration_seconds_bucket", **ok, outcome="ok", le="+Inf") == 4
    assert value(families, "llmprod_time_to_first_token_seconds_count", **ok) == 1
    assert value(families, "llmprod_tokens_total", **ok, type="output") == 4 * 6
    expected_cost = sum(r.cost or 0 for r in responses)
    assert value(families, "llmprod_cost_usd_total", **ok) >= expected_cost > 0
    assert value(families, "llmprod_in_flight_requests") == 0
    assert value(families, "llmprod_attempts_total", deployment="sim-p", outcome="ok") == 4
    # Bounded labels: no prompt text and no tenant unless configured.
    for samples in families.values():
        for sample in samples:
            assert "tenant" not in sample.labels
            assert not any("question" in v for v in sample.labels.values())


async def test_tenant_and_tag_labels_are_opt_in() -> None:
    registry = prometheus_client.CollectorRegistry()
    hook = PrometheusHook(registry=registry, tenant=True, tags=("team",))
    async with AsyncClient(FakeBackend(lambda r: "ok"), retry=None, breaker=None, hooks=[hook]) as client:
        await client.chat("hello", tenant="acme", tags={"team": "search", "user": "u-1"})
    body = prometheus_client.generate_latest(registry).decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(body)}
    assert value(families, "llmprod_requests_total", tenant="acme", tag_team="search", outcome="ok") == 1
    assert "u-1" not in body
    with pytest.raises(ConfigError):
        PrometheusHook(registry=registry)  # the same registry with other labels


def test_two_hooks_share_one_registry() -> None:
    registry = prometheus_client.CollectorRegistry()
    first, second = PrometheusHook(registry=registry), PrometheusHook(registry=registry)
    first(llmprod.events.Feedback("r1", 1.0, "good"))
    second(llmprod.events.Feedback("r2", None, "good"))
    body = prometheus_client.generate_latest(registry).decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(body)}
    assert value(families, "llmprod_feedback_total", label="good") == 2
    assert value(families, "llmprod_feedback_score_count") == 1


def test_resumed_streams_are_counted_like_retries() -> None:
    registry = prometheus_client.CollectorRegistry()
    hook = PrometheusHook(registry=registry)
    hook(llmprod.events.StreamResumed("c", "vllm", 120, 1, "ProviderConnectionError"))
    hook(llmprod.events.StreamResumed("c", "vllm", 240, 2, "ProviderConnectionError"))
    hook(llmprod.events.StreamResumed("d", "vllm", 10, 1, "MalformedResponseError"))
    body = prometheus_client.generate_latest(registry).decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(body)}
    resumes = "llmprod_stream_resumes_total"
    assert value(families, resumes, deployment="vllm", error_type="ProviderConnectionError") == 2
    assert value(families, resumes, deployment="vllm", error_type="MalformedResponseError") == 1


def test_wsgi_app_serves_the_registry() -> None:
    registry = prometheus_client.CollectorRegistry()
    PrometheusHook(registry=registry)(llmprod.events.BreakerStateChanged("d", "r", "closed", "open"))
    app = metrics_wsgi_app(registry)
    status: list[str] = []
    body = b"".join(
        app({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": ""}, lambda s, h: status.append(s))
    )
    assert status == ["200 OK"]
    families = {f.name: f.samples for f in text_string_to_metric_families(body.decode())}
    assert value(families, "llmprod_breaker_state", deployment="d", replica="r") == 2


def test_grafana_dashboard_uses_only_metrics_that_exist() -> None:
    import json
    import re
    from pathlib import Path

    registry = prometheus_client.CollectorRegistry()
    PrometheusHook(registry=registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
    known = {f.name + s for f in registry.collect() for s in suffixes.get(f.type, ("",))}
    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana" / "llmprod.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\bllmprod_[a-z_]+", e)}
    assert len(used) >= 10
    assert used <= known, used - known
