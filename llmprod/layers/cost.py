"""The cost layer: prices every call and enforces budgets. It sits below the cache,
so a cache hit is never charged and never refused.

Before sending, a call with a budget reserves its worst-case cost (prompt tokens
plus ``max_tokens``, or the model's output limit, at output price; for a self-hosted
deployment, the whole GPU until the deadline). A hard budget that cannot take it
refuses the call with :class:`BudgetExceededError`; nothing is sent. When the call
ends the reservation is settled to the actual cost — a stream that broke or was
abandoned pays for what it generated —, or released when nothing was generated, so
concurrent calls can never overspend. Soft thresholds call ``on_soft`` and emit a
:class:`BudgetAlert` once per window.

A provider that ignores ``max_tokens`` could still make a call cost more than it
reserved. Under a budget, a stream is cut when it runs well past ``max_tokens`` (counted
locally as it arrives, so with a margin for tokenizers that count differently: 1.5 times
``max_tokens`` plus 16): the layer stops reading, closes the provider's stream and ends
the caller's with ``finish_reason="length"``; whatever is spent over a reservation anyway is settled,
reported (a :class:`BudgetAlert` of kind ``"overspend"`` and a warning), and makes the
next calls refused until the window has room again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._core.call import Call, Layer, Opened
from .._core.config import Budget
from .._core.deployment import Deployment
from .._core.errors import BudgetExceededError
from .._core.events import BudgetAlert, Emit
from .._core.models import ChatChunk, StreamAssembler
from ..cost._budget import make_store, scope, window_id, window_ttl
from ..cost._costing import CallCost, DeploymentCosts
from ..cost._prices import PriceTable, prices
from ..cost._spend import Reservation, SpendStore
from ..cost._tokens import count_text

log = logging.getLogger("llmprod")
Held = list[tuple[Budget, Reservation]]


class CostLayer(Layer):
    """Sets the call's cost and enforces budgets: the client's ``budget``, and a
    per-call one (``request.metadata.budget``, set by the access layer from the
    caller's API key); a call must fit in both."""

    def __init__(
        self,
        inner: Layer,
        budget: Budget | None,
        emit: Emit,
        *,
        deployments: Sequence[Deployment],
        table: PriceTable | None = None,
    ) -> None:
        super().__init__(inner)
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

    def _budgets(self, call: Call) -> list[Budget]:
        extra = call.request.metadata.budget
        if self.budget is None and extra is None:
            return []
        return [b for b in (self.budget, extra if extra is not None and _active(extra) else None) if b is not None]

    async def _reserve(self, call: Call, cc: CallCost, budget: Budget) -> Reservation:
        store = self._store(budget)
        key = f"{scope(budget, call.request)}@{window_id(budget.window)}"
        worst = self.costs.worst_case(call.request, cc, call.time_left())
        if worst is None:
            raise BudgetExceededError(
                f"budget {key}: the call has no bound on its cost; set max_tokens or the model's "
                "max_output/context_window in llmprod.cost.prices",
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
            if actual is not None and actual > reservation.amount and budget.hard is not None:
                over = actual - reservation.amount
                log.warning("llmprod: budget %s: a call cost $%.6f more than it reserved", reservation.key, over)
                self.emit(BudgetAlert(budget=reservation.key, kind="overspend", spent=spent, limit=budget.hard))
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

    async def open(self, call: Call) -> Opened:
        cc = self.costs.start(call.request)
        held: Held = []
        try:
            for budget in self._budgets(call):
                held.append((budget, await self._reserve(call, cc, budget)))
            opened = await self.inner.open(call)
        except BaseException:
            self.costs.finish(cc)
            await self._release(held)
            raise
        if held and opened.rest is not None and call.request.max_tokens is not None:
            opened.rest = self._capped(opened, opened.rest, call.request.max_tokens, call)
        opened.on_close(self, (cc, held, call))
        return opened

    async def _capped(
        self, opened: Opened, rest: AsyncIterator[ChatChunk], max_tokens: int, call: Call
    ) -> AsyncIterator[ChatChunk]:
        """The stream, cut at ``max_tokens`` when the provider does not stop there."""
        assert opened.first is not None
        model = call.request.model or self.costs.models.get(self.costs.deployments[0].label)
        assembler = StreamAssembler(model=model or "", deployment=self.costs.deployments[0].label)
        cap = max_tokens * 3 // 2 + 16
        used = count_text(opened.first.text, model).tokens
        assembler.add_text(opened.first.text)
        try:
            async for chunk in rest:
                if chunk.response is None:
                    used += count_text(chunk.text, model).tokens
                    assembler.add_text(chunk.text)
                    if used > cap:
                        log.warning("llmprod: the provider sent more than max_tokens=%d; stream cut", max_tokens)
                        assembler.finish_reason = "length"
                        yield assembler.final_chunk()
                        return
                yield chunk
        finally:
            aclose = getattr(rest, "aclose", None)
            if aclose is not None:
                await aclose()

    async def finish(self, opened: Opened, state: Any, error: BaseException | None) -> None:
        cc, held, call = state
        if opened.response is not None:
            usage, cost = self.costs.settle(call.request, opened.response, cc, opened.attempts)
            if usage is not opened.response.usage:
                opened.usage = usage
            opened.cost = cost
            await self._settle(held, cost)
        elif opened.received:  # broken or abandoned mid-way: pay for what was generated
            await self._settle(held, self.costs.partial(call.request, cc, "".join(opened.received)))
        else:
            self.costs.finish(cc)
            await self._release(held)

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            for store in self._stores.values():
                await store.aclose()


def _active(budget: Budget) -> bool:
    return budget.hard is not None or budget.soft is not None
