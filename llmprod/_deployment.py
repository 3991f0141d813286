"""A deployment: one model served by one or more interchangeable replicas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._config import BalanceStrategy, Hedge
from ._exceptions import ConfigError
from ._types import Backend


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """Replicas of one model (say, several vLLM servers), balanced and hedged as one.

    A client's list of deployments is a fallback chain; a bare backend in that list
    is a deployment of one replica. ``region`` and ``tier`` are read by the router.
    """

    replicas: Sequence[Backend]
    name: str | None = None
    balance: BalanceStrategy = "least_inflight"
    weights: Sequence[float] | None = None
    hedge: Hedge | None = None
    region: str | None = None
    tier: str | None = None

    def __post_init__(self) -> None:
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
