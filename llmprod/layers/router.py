"""The router: picks a tier, orders its deployments, and falls back in that order.

It takes the place of the plain fallback layer when a :class:`~llmprod.Router` is
configured. Per request: choose the tier (classifier, or the request's own), then order
deployments: that tier first (the caller's region first within it, then deployments whose
observed latency fits the request's SLO class), then the other tiers when
``fallback_across_tiers``. The fallback triggers are the fallback layer's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from .._core.backend import Backend, Emit
from .._core.deployment import Deployment
from .._core.errors import AllBackendsFailedError, InvalidRequestError, StreamInterruptedError
from .._core.events import FallbackUsed
from .._core.models import ChatChunk, ChatRequest, ChatResponse
from ._routing import Router
from .fallback import FALLBACK_ON, triggers

_EWMA = 0.2


class RouterLayer:
    def __init__(self, routes: Sequence[tuple[Deployment, Backend]], router: Router, emit: Emit) -> None:
        if not routes:
            raise ValueError("the router needs at least one deployment")
        self.routes = list(routes)
        self.router = router
        self.emit = emit
        self.name = "router"
        self.tiers = {d.tier for d, _ in self.routes if d.tier}
        self.latency: dict[str, float] = {}

    def _order(self, request: ChatRequest, tier: str) -> list[tuple[Deployment, Backend]]:
        if tier not in self.tiers:
            raise InvalidRequestError(f"unknown tier {tier!r}; deployments have {sorted(self.tiers)}", field="tier")
        region = request.metadata.region or self.router.region
        target = self.router.slo_targets.get(request.metadata.slo or "")

        def key(item: tuple[int, tuple[Deployment, Backend]]) -> tuple[int, int, int, int]:
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

    def _note(self, request: ChatRequest, tier: str | None, reason: str) -> None:
        if request.trace is not None:
            request.trace.tier = tier
            request.trace.route_reason = reason

    def _moved_on(
        self, request: ChatRequest, failed: Deployment, following: Deployment | None, exc: BaseException
    ) -> None:
        if following is not None:
            trace = request.trace
            self.emit(FallbackUsed(trace.call_id if trace else None, failed.label, following.label, type(exc).__name__))

    async def _run(self, request: ChatRequest, tier: str, reason: str) -> ChatResponse:
        ordered = self._order(request, tier)
        errors: list[BaseException] = []
        for i, (deployment, backend) in enumerate(ordered):
            started = time.monotonic()
            try:
                response = await backend.complete(request)
            except Exception as exc:
                if not triggers(exc, FALLBACK_ON):
                    raise
                errors.append(exc)
                self._moved_on(request, deployment, ordered[i + 1][0] if i + 1 < len(ordered) else None, exc)
                continue
            self._observe(deployment, time.monotonic() - started)
            answered = deployment.tier or tier
            self._note(request, answered, reason if answered == tier else f"{reason}; tier {tier} failed")
            return response
        raise AllBackendsFailedError(errors) from errors[-1]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        tier, reason = self.router.choose(request)
        response = await self._run(request, tier, reason)
        check = self.router.escalate
        target = self.router.escalate_to or self.router.large
        trace = request.trace
        answered = trace.tier if trace is not None else tier
        if check is not None and answered != target and target in self.tiers and not check(response):
            return await self._run(request, target, f"escalated from {answered}: its answer failed the check")
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        tier, reason = self.router.choose(request)
        ordered = self._order(request, tier)
        errors: list[BaseException] = []
        for i, (deployment, backend) in enumerate(ordered):
            started_at = time.monotonic()
            started = False
            try:
                async for chunk in backend.stream(request):
                    if not started:
                        started = True
                        answered = deployment.tier or tier
                        self._note(request, answered, reason if answered == tier else f"{reason}; tier {tier} failed")
                    yield chunk
                self._observe(deployment, time.monotonic() - started_at)
                return
            except StreamInterruptedError:
                raise
            except Exception as exc:
                if started or not triggers(exc, FALLBACK_ON):
                    raise
                errors.append(exc)
                self._moved_on(request, deployment, ordered[i + 1][0] if i + 1 < len(ordered) else None, exc)
        raise AllBackendsFailedError(errors) from errors[-1]

    async def aclose(self) -> None:
        for _, backend in self.routes:
            await backend.aclose()
