"""The default stack, written down once.

Outer to inner (see DESIGN.md)::

    telemetry > guards > rate limit > PII > cache > budget > router > fallback
        > [per deployment] retry > balance > [per replica] attempt > breaker > provider

``build_stack`` builds it inside out. Optional layers are left out when not
configured; each layer module is imported only when used, so a dependency that only
one layer needs (tenacity, pybreaker, cachetools) is imported only by that layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ._config import PII, Breaker, Budget, Cache, Guards, RateLimit, Retry, Telemetry, Timeout
from ._deployment import Deployment
from ._types import Backend, Emit


@dataclass(frozen=True, slots=True, kw_only=True)
class StackConfig:
    retry: Retry | None = Retry()
    breaker: Breaker | None = Breaker()
    timeout: Timeout = Timeout()
    cache: Cache | None = None
    pii: PII | None = None
    budget: Budget | None = None
    guards: Guards | None = None
    rate_limit: RateLimit | None = None
    telemetry: Telemetry = field(default_factory=Telemetry)


def build_replica(replica: Backend, deployment: str, config: StackConfig, emit: Emit) -> Backend:
    from .layers.timeout import AttemptLayer

    inner = replica
    if config.breaker is not None:
        from .layers.breaker import BreakerLayer

        inner = BreakerLayer(inner, config.breaker, emit, deployment=deployment)
    return AttemptLayer(inner, config.timeout, emit, deployment=deployment)


def build_deployment(deployment: Deployment, config: StackConfig, emit: Emit) -> Backend:
    label = deployment.label
    replicas = [build_replica(r, label, config, emit) for r in deployment.replicas]
    inner: Backend
    if len(replicas) == 1 and deployment.hedge is None:
        inner = replicas[0]
    else:
        from .layers.balance import BalanceLayer

        inner = BalanceLayer(replicas, deployment, emit)
    if config.retry is not None and config.retry.attempts > 1:
        from .layers.retry import RetryLayer

        inner = RetryLayer(inner, config.retry, emit, deployment=label)
    return inner


def build_stack(deployments: Sequence[Deployment], config: StackConfig, emit: Emit) -> Backend:
    from .layers.cost import CostLayer
    from .layers.fallback import FallbackLayer

    root: Backend = FallbackLayer([build_deployment(d, config, emit) for d in deployments], emit)
    root = CostLayer(root, config.budget, emit, deployments=deployments)
    if config.cache is not None:
        from .layers.cache import CacheLayer

        root = CacheLayer(root, config.cache, emit)
    if config.pii is not None:
        from .layers.pii import PIILayer

        root = PIILayer(root, config.pii, emit)
    if config.rate_limit is not None:
        from .layers.ratelimit import RateLimitLayer

        root = RateLimitLayer(root, config.rate_limit, emit)
    if config.guards is not None:
        from .layers.guards import GuardsLayer

        root = GuardsLayer(root, config.guards, emit)
    if config.telemetry.enabled:
        from .layers.telemetry import TelemetryLayer

        root = TelemetryLayer(root, config.telemetry, emit)
    return root
