"""The cost layer: prices every call and enforces budgets. It sits below the cache,
so a cache hit is never charged and never refused.

Before sending, a call with a budget reserves its worst-case cost (prompt tokens
plus ``max_tokens``, or the model's output limit, at output price; for a self-hosted
deployment, the whole GPU until the deadline). A hard budget that cannot take it
refuses the call with :class:`BudgetExceededError`; nothing is sent. When the call
ends the reservation is settled to the actual cost, or released on error, so
concurrent calls can never overspend. Soft thresholds call ``on_soft`` and emit a
:class:`BudgetAlert` once per window.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from .._core.backend import Backend, Emit
from .._core.config import Budget
from .._core.deployment import Deployment
from .._core.errors import BudgetExceededError
from .._core.events import BudgetAlert
from .._core.models import ChatChunk, ChatRequest, ChatResponse
from ..cost._budget import Reservation, SpendStore, make_store, scope, window_id, window_ttl
from ..cost._costing import CallCost, DeploymentCosts
from ..cost._prices import PriceTable, prices
from ._streams import aclose_stream

log = logging.getLogger("llmprod")


class CostLayer:
    """Sets ``response.cost`` (and the last stream chunk's) and enforces budgets: the
    client's ``budget``, and a per-call one (``request.metadata.budget``, set by the
    access layer from the caller's API key); a call must fit in both."""

    def __init__(
        self,
        inner: Backend,
        budget: Budget | None,
        emit: Emit,
        *,
        deployments: Sequence[Deployment],
        table: PriceTable | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.budget = budget if budget is not None and _active(budget) else None
        self.emit = emit
        self.costs = DeploymentCosts(deployments, table or prices)
        self._stores: dict[str | None, SpendStore] = {}
        self.store = self._store(self.budget) if self.budget is not None else None

    def _store(self, budget: Budget) -> SpendStore:
        """One spend store per Redis URL (None: in memory), shared by every budget on it."""
        store = self._stores.get(budget.redis_url)
        if store is None:
            store = self._stores[budget.redis_url] = make_store(budget)
        return store

    def _budgets(self, request: ChatRequest) -> list[Budget]:
        extra = request.metadata.budget
        return [b for b in (self.budget, extra if extra is not None and _active(extra) else None) if b is not None]

    async def _reserve(self, request: ChatRequest, call: CallCost, budget: Budget) -> Reservation:
        store = self._store(budget)
        key = f"{scope(budget, request)}@{window_id(budget.window)}"
        worst = self.costs.worst_case(request, call)
        if worst is None:
            raise BudgetExceededError(
                f"budget {key}: the call has no bound on its cost; set max_tokens or the model's "
                "max_output/context_window in llmprod.prices",
                budget=key,
                limit=budget.hard or 0.0,
                spent=await store.spent(key),
            )
        decision = await store.reserve(key, worst, budget.hard, window_ttl(budget.window))
        if decision.reservation is None:
            assert budget.hard is not None
            if await store.first_alert(key, "hard", window_ttl(budget.window)):
                self.emit(BudgetAlert(budget=key, kind="hard", spent=decision.spent, limit=budget.hard))
            raise BudgetExceededError(
                f"hard budget {key} would be exceeded: spent ${decision.spent:.6f}, reserved "
                f"${decision.reserved:.6f}, this call's worst case ${worst:.6f}, limit ${budget.hard:.6f}",
                budget=key,
                limit=budget.hard,
                spent=decision.spent,
            )
        return decision.reservation

    async def _settle(self, held: Held, actual: float | None) -> None:
        for budget, reservation in held:
            store = self._store(budget)
            spent = await store.settle(reservation, actual or 0.0, window_ttl(budget.window))
            if budget.soft is None or spent < budget.soft:
                continue
            if not await store.first_alert(reservation.key, "soft", window_ttl(budget.window)):
                continue
            log.warning("llmprod: budget %s passed its soft limit: $%.6f of $%.6f", reservation.key, spent, budget.soft)
            self.emit(BudgetAlert(budget=reservation.key, kind="soft", spent=spent, limit=budget.soft))
            if budget.on_soft is not None:
                try:
                    budget.on_soft(reservation.key, spent, budget.soft)
                except Exception as exc:  # a user callback must not fail the call
                    log.warning("llmprod: on_soft callback failed: %s", type(exc).__name__)

    async def _release(self, held: Held) -> None:
        for budget, reservation in held:
            await self._store(budget).release(reservation)

    async def _begin(self, request: ChatRequest) -> tuple[CallCost, Held]:
        call = self.costs.start(request)
        held: Held = []
        try:
            for budget in self._budgets(request):
                held.append((budget, await self._reserve(request, call, budget)))
        except BaseException:
            self.costs.finish(call)
            await self._release(held)
            raise
        return call, held

    async def complete(self, request: ChatRequest) -> ChatResponse:
        call, held = await self._begin(request)
        try:
            response = await self.inner.complete(request)
        except BaseException:
            self.costs.finish(call)
            await self._release(held)
            raise
        response = self.costs.settle(request, response, call)
        await self._settle(held, response.cost)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        call, held = await self._begin(request)
        sent: list[str] = []
        settled = False
        stream = self.inner.stream(request)
        try:
            async for chunk in stream:
                if chunk.response is not None and not settled:
                    response = self.costs.settle(request, chunk.response, call)
                    settled = True
                    await self._settle(held, response.cost)
                    chunk = replace(chunk, response=response, usage=response.usage)
                else:
                    sent.append(chunk.text)
                yield chunk
        finally:
            if not settled and sent:  # broken or abandoned mid-way: bill what was generated
                await self._settle(held, self.costs.partial(request, call, "".join(sent)))
            elif not settled:
                self.costs.finish(call)
                await self._release(held)
            await aclose_stream(stream)

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            for store in self._stores.values():
                await store.aclose()


Held = list[tuple[Budget, Reservation]]


def _active(budget: Budget) -> bool:
    return budget.hard is not None or budget.soft is not None
