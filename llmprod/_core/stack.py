"""The default stack, written down once.

Outer to inner (see DESIGN.md)::

    telemetry > access > guards > rate limit > PII > cache > output guard > budget > router
        > fallback > [per deployment] retry > balance > [per replica] breaker > attempt > provider

``build_stack`` builds it inside out. Optional layers are left out when not
configured; each layer module is imported only when used, so a dependency that only
one layer needs (tenacity, pybreaker, cachetools) is imported only by that layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._safety.access import AccessPolicy
from ..layers._routing import Router
from .backend import Backend, Emit
from .config import PII, Breaker, Budget, Cache, Guards, RateLimit, Retry, Telemetry, Timeout
from .deployment import Deployment


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
    access: AccessPolicy | None = None
    telemetry: Telemetry = field(default_factory=Telemetry)
    router: Router | None = None


def build_replica(replica: Backend, deployment: str, config: StackConfig, emit: Emit) -> Backend:
    from ..layers.timeout import AttemptLayer

    # The breaker wraps the attempt: it must see an attempt timeout as a
    # ProviderTimeoutError (a failure), not as the CancelledError asyncio.timeout
    # throws inside it, which it cannot tell from a hedge's loser (neutral).
    inner: Backend = AttemptLayer(replica, config.timeout, emit, deployment=deployment)
    if config.breaker is not None:
        from ..layers.breaker import BreakerLayer

        inner = BreakerLayer(inner, config.breaker, emit, deployment=deployment)
    return inner


def build_deployment(deployment: Deployment, config: StackConfig, emit: Emit) -> Backend:
    label = deployment.label
    replicas = [build_replica(r, label, config, emit) for r in deployment.replicas]
    inner: Backend
    if len(replicas) == 1 and deployment.hedge is None:
        inner = replicas[0]
    else:
        from ..layers.balance import BalanceLayer

        inner = BalanceLayer(replicas, deployment, emit)
    if config.retry is not None and config.retry.attempts > 1:
        from ..layers.retry import RetryLayer

        inner = RetryLayer(inner, config.retry, emit, deployment=label)
    return inner


def build_stack(deployments: Sequence[Deployment], config: StackConfig, emit: Emit) -> Backend:
    from ..layers.cost import CostLayer
    from ..layers.fallback import FallbackLayer

    root: Backend
    if config.router is not None:
        from ..layers.router import RouterLayer

        root = RouterLayer([(d, build_deployment(d, config, emit)) for d in deployments], config.router, emit)
    else:
        root = FallbackLayer([build_deployment(d, config, emit) for d in deployments], emit)
    root = CostLayer(root, config.budget, emit, deployments=deployments)
    if config.guards is not None and (config.guards.output_classifiers or config.guards.blocklist):
        from ..layers.output_guard import OutputGuardLayer

        # Below the cache: a blocked or replaced answer never reaches it, so is never stored.
        root = OutputGuardLayer(root, config.guards, emit)
    if config.cache is not None:
        from ..layers.cache import CacheLayer

        root = CacheLayer(root, config.cache, emit)
    if config.pii is not None:
        from ..layers.pii import PIILayer

        root = PIILayer(root, config.pii, emit)
    if config.rate_limit is not None:
        from ..layers.ratelimit import RateLimitLayer

        root = RateLimitLayer(root, config.rate_limit, emit)
    if config.guards is not None:
        from ..layers.guards import GuardsLayer

        root = GuardsLayer(root, config.guards, emit, output=False)
    if config.access is not None:
        from ..layers.access import AccessLayer

        root = AccessLayer(root, config.access, emit)
    if config.telemetry.enabled:
        from ..layers.telemetry import TelemetryLayer

        root = TelemetryLayer(root, config.telemetry, emit, deployments=deployments)
    return root
