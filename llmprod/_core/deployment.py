"""A deployment: one model served by one or more interchangeable replicas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .backend import Backend
from .config import BalanceStrategy, Hedge
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
        if self.gpu_hourly_usd is not None and (isinstance(self.gpu_hourly_usd, bool) or self.gpu_hourly_usd < 0):
            raise ConfigError(f"must be >= 0, got {self.gpu_hourly_usd!r}", path="deployment.gpu_hourly_usd")
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 1:
            raise ConfigError(f"must be an integer >= 1, got {self.gpus!r}", path="deployment.gpus")
        if not self.replicas:
            raise ConfigError("needs at least one replica", path="deployment.replicas")
        if self.weights is not None and len(self.weights) != len(self.replicas):
            raise ConfigError("needs one weight per replica", path="deployment.weights")
        if self.balance not in ("round_robin", "least_inflight", "latency", "weighted"):
            raise ConfigError(f"unknown strategy {self.balance!r}", path="deployment.balance")

    @property
    def label(self) -> str:
        return self.name or self.replicas[0].name


def as_deployment(item: Backend | Deployment) -> Deployment:
    if isinstance(item, Deployment):
        return item
    if not isinstance(item, Backend):
        raise ConfigError(f"expected a backend or a Deployment, got {type(item).__name__}", path="deployments")
    return Deployment(replicas=[item], name=item.name, region=getattr(item, "region", None))
