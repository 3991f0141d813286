"""The router: picks a tier, orders its deployments, and falls back in that order.

It takes the place of the plain fallback layer when a :class:`~llmprod.Router` is
configured. Per request: choose the tier (classifier, or the request's own), then order
deployments: that tier first (the caller's region first within it, then deployments whose
observed latency fits the request's SLO class), then the other tiers when
``fallback_across_tiers``. The fallback triggers are the fallback layer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._core.backend import Backend
from .._core.call import Call, Layer, Opened
from .._core.clock import now
from .._core.deployment import Deployment
from .._core.errors import InvalidRequestError
from .._core.events import Emit
from .._core.models import ChatRequest
from ._routing import Router
from .attempt import as_layer
from .fallback import FALLBACK_ON, open_in_order

_EWMA = 0.2


class RouterLayer(Layer):
    def __init__(self, routes: Sequence[tuple[Deployment, Layer | Backend]], router: Router, emit: Emit) -> None:
        if not routes:
            raise ValueError("the router needs at least one deployment")
        self.routes = [(d, as_layer(b)) for d, b in routes]
        self.router = router
        self.emit = emit
        self.name = "router"
        self.tiers = {d.tier for d, _ in self.routes if d.tier}
        self.latency: dict[str, float] = {}

    def _order(self, request: ChatRequest, tier: str) -> list[tuple[Deployment, Layer]]:
        if tier not in self.tiers:
            raise InvalidRequestError(f"unknown tier {tier!r}; deployments have {sorted(self.tiers)}", field="tier")
        region = request.metadata.region or self.router.region
        target = self.router.slo_targets.get(request.metadata.slo or "")

        def key(item: tuple[int, tuple[Deployment, Layer]]) -> tuple[int, int, int, int]:
            index, (deployment, _) = item
            other_tier = int(deployment.tier != tier)
            other_region = int(region is not None and deployment.region is not None and deployment.region != region)
            observed = self.latency.get(deployment.label)
            too_slow = int(target is not None and observed is not None and observed > target)
            return other_tier, other_region, too_slow, index

        ordered = [item for _, item in sorted(enumerate(self.routes), key=key)]
        if not self.router.fallback_across_tiers:
            ordered = [item for item in ordered if item[0].tier == tier]
        return ordered

    def _observe(self, deployment: Deployment, seconds: float) -> None:
        old = self.latency.get(deployment.label)
        self.latency[deployment.label] = seconds if old is None else old + _EWMA * (seconds - old)

    async def _route(self, call: Call, tier: str, reason: str) -> Opened:
        ordered = self._order(call.request, tier)
        index, started, opened = await open_in_order(call, [layer for _, layer in ordered], FALLBACK_ON, self.emit)
        deployment = ordered[index][0]
        answered = deployment.tier or tier
        opened.tier = answered
        opened.route_reason = reason if answered == tier else f"{reason}; tier {tier} failed"
        opened.on_close(self, (deployment, started))
        return opened

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        deployment, started = state
        if error is None:
            self._observe(deployment, now() - started)

    async def open(self, call: Call) -> Opened:
        tier, reason = self.router.choose(call.request)
        opened = await self._route(call, tier, reason)
        check = self.router.escalate
        target = self.router.escalate_to or self.router.large
        answered = opened.tier
        if call.stream or check is None or answered == target or target not in self.tiers:
            return opened
        assert opened.response is not None
        if check(opened.response):
            return opened
        await opened.close(None)  # a real answer, billed; the caller gets the larger tier's
        better = await self._route(call, target, f"escalated from {answered}: its answer failed the check")
        better.attempts = opened.attempts + better.attempts
        return better

    async def aclose(self) -> None:
        for _, backend in self.routes:
            await backend.aclose()
