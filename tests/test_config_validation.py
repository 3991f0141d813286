"""Every configuration object refuses NaN, infinities, bools and wrong types with ConfigError,
naming the field; the values a user means are still accepted."""

from __future__ import annotations

import math
from typing import Any

import pytest

import llmprod
from llmprod.testing import FakeBackend

NAN, INF = math.nan, math.inf
BACKEND = FakeBackend(lambda r: "ok")

BAD: list[tuple[type, dict[str, Any], str]] = [
    (llmprod.Budget, {"hard": NAN}, "budget.hard"),
    (llmprod.Budget, {"soft": INF}, "budget.soft"),
    (llmprod.Budget, {"hard": "10"}, "budget.hard"),
    (llmprod.Budget, {"per": 5}, "budget.per"),
    (llmprod.Budget, {"window": ["day"]}, "budget.window"),
    (llmprod.Budget, {"on_soft": "print"}, "budget.on_soft"),
    (llmprod.RateLimit, {"requests_per_minute": NAN}, "rate_limit.requests_per_minute"),
    (llmprod.RateLimit, {"tokens_per_minute": INF}, "rate_limit.tokens_per_minute"),
    (llmprod.RateLimit, {"requests_per_minute": True}, "rate_limit.requests_per_minute"),
    (llmprod.RateLimit, {"per": {"api_key"}}, "rate_limit.per"),
    (llmprod.RateLimit, {"redis_url": 6379}, "rate_limit.redis_url"),
    (llmprod.Timeout, {"total": NAN}, "timeout.total"),
    (llmprod.Timeout, {"attempt": INF}, "timeout.attempt"),
    (llmprod.Timeout, {"connect": "5"}, "timeout.connect"),
    (llmprod.Timeout, {"grace": NAN}, "timeout.grace"),
    (llmprod.Retry, {"attempts": 2.5}, "retry.attempts"),
    (llmprod.Retry, {"attempts": "3"}, "retry.attempts"),
    (llmprod.Retry, {"attempts": True}, "retry.attempts"),
    (llmprod.Retry, {"exp_base": -2.0}, "retry.exp_base"),
    (llmprod.Retry, {"exp_base": NAN}, "retry.exp_base"),
    (llmprod.Retry, {"max_retry_after": -1.0}, "retry.max_retry_after"),
    (llmprod.Retry, {"max_retry_after": NAN}, "retry.max_retry_after"),
    (llmprod.Retry, {"initial": NAN}, "retry.initial"),
    (llmprod.Retry, {"jitter": NAN}, "retry.jitter"),
    (llmprod.Breaker, {"fail_max": 2.5}, "breaker.fail_max"),
    (llmprod.Breaker, {"reset_timeout": NAN}, "breaker.reset_timeout"),
    (llmprod.Breaker, {"reset_timeout": INF}, "breaker.reset_timeout"),
    (llmprod.Breaker, {"failure_rate": NAN}, "breaker.failure_rate"),
    (llmprod.Breaker, {"minimum_calls": 2.5}, "breaker.minimum_calls"),
    (llmprod.Breaker, {"window": NAN}, "breaker.window"),
    (llmprod.Breaker, {"fail_max": True}, "breaker.fail_max"),
    (llmprod.Cache, {"ttl": NAN}, "cache.ttl"),
    (llmprod.Cache, {"max_entries": 1.5}, "cache.max_entries"),
    (llmprod.Cache, {"max_bytes": "64MB"}, "cache.max_bytes"),
    (llmprod.Cache, {"coalesce": "yes"}, "cache.coalesce"),
    (llmprod.Cache, {"namespace": ""}, "cache.namespace"),
    (llmprod.Hedge, {"delay": NAN}, "hedge.delay"),
    (llmprod.Hedge, {"delay": "p99"}, "hedge.delay"),
    (llmprod.Hedge, {"max_extra": NAN}, "hedge.max_extra"),
    (llmprod.Hedge, {"min_delay": -1.0}, "hedge.min_delay"),
    (llmprod.Guards, {"max_chars": NAN}, "guards.max_chars"),
    (llmprod.Guards, {"max_messages": 2.5}, "guards.max_messages"),
    (llmprod.Guards, {"injection_threshold": NAN}, "guards.injection_threshold"),
    (llmprod.Guards, {"output_classifiers": [None]}, "guards.output_classifiers[0]"),
    (llmprod.Guards, {"blocklist": [3]}, "guards.blocklist[0]"),
    (llmprod.Guards, {"injection": None}, "guards.injection"),
    (llmprod.PII, {"mode": ["mask"]}, "pii.mode"),
    (llmprod.PII, {"entities": "EMAIL"}, "pii.entities"),
    (llmprod.PII, {"detectors": [r"\d+"]}, "pii.detectors[0]"),
    (llmprod.PII, {"restore": "no"}, "pii.restore"),
    (llmprod.Telemetry, {"stats_window": NAN}, "telemetry.stats_window"),
    (llmprod.Telemetry, {"metric_labels": ["env"]}, "telemetry.metric_labels"),
    (llmprod.Deployment, {"replicas": [BACKEND], "gpu_hourly_usd": NAN}, "deployment.gpu_hourly_usd"),
    (llmprod.Deployment, {"replicas": [BACKEND], "gpu_hourly_usd": INF}, "deployment.gpu_hourly_usd"),
    (llmprod.Deployment, {"replicas": [BACKEND], "weights": [NAN]}, "deployment.weights[0]"),
    (llmprod.Deployment, {"replicas": [BACKEND], "weights": [0.0]}, "deployment.weights"),
    (llmprod.Deployment, {"replicas": [BACKEND], "balance": ["weighted"]}, "deployment.balance"),
    (llmprod.Deployment, {"replicas": [BACKEND], "hedge": 0.1}, "deployment.hedge"),
    (llmprod.Deployment, {"replicas": ["http://gpu-1:8000"]}, "deployment.replicas[0]"),
    (llmprod.Deployment, {"replicas": BACKEND}, "deployment.replicas"),
    (llmprod.Deployment, {"replicas": [BACKEND], "name": 7}, "deployment.name"),
]


@pytest.mark.parametrize(("cls", "kwargs", "path"), BAD, ids=[f"{c.__name__}-{p}-{k}" for c, k, p in BAD])
def test_bad_values_are_refused_with_the_field_named(cls: type, kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(llmprod.ConfigError) as raised:
        cls(**kwargs)
    assert raised.value.path == path


def test_the_values_users_mean_are_still_accepted() -> None:
    llmprod.Budget(hard=0, soft=2.5, per="tag:team", window="day", on_soft=lambda *a: None)
    llmprod.RateLimit(requests_per_minute=60, tokens_per_minute=1e6, redis_url="redis://localhost:6379/0")
    llmprod.Timeout(total=10, attempt=2, connect=1, stream_idle=5, grace=0)
    llmprod.Retry(attempts=1, initial=0, maximum=0, exp_base=1, jitter=0, max_retry_after=0)
    llmprod.Breaker(fail_max=1, reset_timeout=0.5)
    llmprod.Breaker(failure_rate=1, minimum_calls=1, window=0.5, fail_max=None)
    llmprod.Cache(ttl=1, stale_ttl=0, max_entries=1, max_bytes=1)
    llmprod.Hedge(delay=0.05, max_extra=1, min_delay=0)
    llmprod.Guards(max_prompt_tokens=None, max_messages=1, blocklist=("a", "b"), output_classifiers=[str.strip])
    llmprod.PII(entities=["EMAIL"], detectors=[llmprod.pii.Detector("EMP", r"EMP-\d+")])
    llmprod.Telemetry(metric_labels={"env": "prod"})
    llmprod.Deployment(replicas=[BACKEND, BACKEND], weights=[1, 0], gpu_hourly_usd=0, hedge=llmprod.Hedge())
