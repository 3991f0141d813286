"""A deployment: one model served by one or more interchangeable replicas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .backend import Backend
from .config import BalanceStrategy, Hedge, _choice, _integer, _positive, _sequence
from .errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """Replicas of one model (say, several vLLM servers), balanced and hedged as one.

    A client's list of deployments is a fallback chain; a bare backend in that list
    is a deployment of one replica. ``region`` and ``tier`` are read by the router.

    A self-hosted deployment declares what its GPUs cost: ``gpu_hourly_usd`` per GPU
    and ``gpus``; its calls are then priced by their share of the GPUs' busy time
    (see ``docs/cost.md``) instead of per-token API prices.
    """

    replicas: Sequence[Backend]
    name: str | None = None
    balance: BalanceStrategy = "least_inflight"
    weights: Sequence[float] | None = None
    hedge: Hedge | None = None
    region: str | None = None
    tier: str | None = None
    gpu_hourly_usd: float | None = None
    gpus: int = 1

    def __post_init__(self) -> None:
        _positive("deployment.gpu_hourly_usd", self.gpu_hourly_usd, allow_zero=True)
        _integer("deployment.gpus", self.gpus)
        _sequence("deployment.replicas", self.replicas)
        if not self.replicas:
            raise ConfigError("needs at least one replica", path="deployment.replicas")
        for i, replica in enumerate(self.replicas):
            if not isinstance(replica, Backend) or not isinstance(getattr(replica, "name", None), str):
                raise ConfigError(
                    f"must be a backend (name, complete, stream, aclose), got {type(replica).__name__}",
                    path=f"deployment.replicas[{i}]",
                )
        if self.name is not None and not (isinstance(self.name, str) and self.name):
            raise ConfigError(
                f"must be a non-empty string or None, got {type(self.name).__name__}", path="deployment.name"
            )
        if self.weights is not None:
            _sequence("deployment.weights", self.weights)
            if len(self.weights) != len(self.replicas):
                raise ConfigError("needs one weight per replica", path="deployment.weights")
            for i, weight in enumerate(self.weights):
                _positive(f"deployment.weights[{i}]", weight, allow_zero=True, optional=False)
            if not any(self.weights):
                raise ConfigError("needs at least one weight above 0", path="deployment.weights")
        _choice("deployment.balance", self.balance, ("round_robin", "least_inflight", "latency", "weighted"))
        if self.hedge is not None and not isinstance(self.hedge, Hedge):
            raise ConfigError(
                f"must be a llmprod.Hedge or None, got {type(self.hedge).__name__}", path="deployment.hedge"
            )
        for field in ("region", "tier"):
            if getattr(self, field) is not None and not isinstance(getattr(self, field), str):
                raise ConfigError("must be a string or None", path=f"deployment.{field}")

    @property
    def label(self) -> str:
        return self.name or self.replicas[0].name


def as_deployment(item: Backend | Deployment) -> Deployment:
    if isinstance(item, Deployment):
        return item
    if not isinstance(item, Backend):
        raise ConfigError(f"expected a backend or a Deployment, got {type(item).__name__}", path="deployments")
    return Deployment(replicas=[item], name=item.name, region=getattr(item, "region", None))
