"""The spend ledger: a hook that records every call's cost.

Every client has one (``client.costs()`` reports it). It takes ``CallFinished`` events
(cost, tokens, model, deployment, tenant, tags) and ``CacheLookup`` events (what a
hit saved, attributed to the call when it finishes). Safe to share between threads
and tasks: one lock, held only to update numbers. Export: :meth:`Ledger.report`
(``to_dict()``), :meth:`Ledger.to_jsonl`. For spend shared by many processes, use
:class:`RedisLedger` (pass it in ``hooks=``; the client then reports from it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from .._core.events import CacheLookup, CallFinished, Event
from ._report import GROUPS, CostReport, Totals

if TYPE_CHECKING:
    from ._spend_redis import RedisLedgerStore

log = logging.getLogger("llmprod")


def call_totals(event: CallFinished, saved: float) -> Totals:
    """One finished call as :class:`Totals` (pure)."""
    response = event.response
    if response is None:
        return Totals(errors=1)
    if response.cached:
        return Totals(requests=1, cache_hits=1, saved=saved)
    usage = response.usage
    return Totals(
        requests=1,
        unpriced=int(response.cost is None),
        estimated=int(usage.estimated),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cost=response.cost or 0.0,
        saved=saved,
    )


def group_names(event: CallFinished) -> dict[str, list[str]]:
    """The names a call is counted under in each breakdown."""
    response = event.response
    model = (response.model if response is not None else None) or event.model or "-"
    out = {"model": [model], "tenant": [event.tenant or "-"], "tag": [f"{k}={v}" for k, v in event.tags.items()]}
    out["deployment"] = [response.deployment or "-"] if response is not None else []
    return out


class Ledger:
    """Spend by model, deployment, tenant and tag; a :class:`~llmprod.events.Hook`.

    ``keep`` bounds the per-call records kept for :meth:`to_jsonl` (totals are exact
    whatever the number of calls).
    """

    def __init__(self, *, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._total = Totals()
        self._groups: dict[str, dict[str, Totals]] = {g: {} for g in GROUPS}
        self._pending_saved: dict[str, float] = {}
        # (time, event, totals): the JSON record is built only when exported.
        self._records: deque[tuple[float, CallFinished, Totals]] = deque(maxlen=keep)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(${self._total.cost:.4f}, {self._total.requests} requests)"

    def __call__(self, event: Event) -> None:
        if isinstance(event, CacheLookup):
            if event.outcome in ("hit", "stale", "coalesced") and event.saved_cost and event.call_id:
                with self._lock:
                    if len(self._pending_saved) < 100_000:
                        self._pending_saved[event.call_id] = event.saved_cost
        elif isinstance(event, CallFinished):
            self.record(event)

    def record(self, event: CallFinished) -> Totals:
        """Count one finished call; returns what it added."""
        with self._lock:
            saved = self._pending_saved.pop(event.call_id, 0.0)
        totals = call_totals(event, saved)
        names = group_names(event)
        with self._lock:
            self._total.merge(totals)
            for group, keys in names.items():
                for key in keys:
                    self._groups[group].setdefault(key, Totals()).merge(totals)
            self._records.append((time.time(), event, totals))
        return totals

    def report(self) -> CostReport:
        """A consistent snapshot of the totals."""
        with self._lock:
            total = Totals()
            total.merge(self._total)
            groups = {g: {k: _copy(t) for k, t in rows.items()} for g, rows in self._groups.items()}
            records = list(self._records)
        timeline = [(when, _model(event), totals.cost) for when, event, totals in records if event.response is not None]
        return CostReport(total, groups, timeline)

    def to_jsonl(self) -> str:
        """The recent calls, one JSON object a line (no prompt or answer text)."""
        with self._lock:
            records = list(self._records)
        return "".join(json.dumps(_record(*r), separators=(",", ":")) + "\n" for r in records)


class RedisLedger(Ledger):
    """A ledger whose totals also go to Redis, shared by every process using ``url``.

    Writes are sent in the background from the event loop that emits the event;
    :meth:`areport` reads the shared totals. ``await aclose()`` flushes and closes.
    """

    def __init__(self, url: str, *, prefix: str = "llmprod:ledger", keep: int = 10_000) -> None:
        super().__init__(keep=keep)
        from ._spend_redis import RedisLedgerStore

        self.store: RedisLedgerStore = RedisLedgerStore(url, prefix=prefix)
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, event: CallFinished) -> Totals:
        totals = super().record(event)
        try:
            task = asyncio.get_running_loop().create_task(self.store.add(totals, group_names(event)))
        except RuntimeError:
            log.warning("llmprod: RedisLedger needs a running event loop; call not shared")
            return totals
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return totals

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("llmprod: RedisLedger write failed: %s", type(task.exception()).__name__)

    async def flush(self) -> None:
        """Wait for the writes in flight."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def areport(self) -> CostReport:
        """The totals of every process sharing this Redis."""
        await self.flush()
        return await self.store.report()

    async def aclose(self) -> None:
        await self.flush()
        await self.store.aclose()


def _model(event: CallFinished) -> str:
    return (event.response.model if event.response is not None else None) or event.model or "-"


def _copy(t: Totals) -> Totals:
    out = Totals()
    out.merge(t)
    return out


def _record(when: float, event: CallFinished, totals: Totals) -> dict[str, Any]:
    response = event.response
    return {
        "time": round(when, 3),
        "call_id": event.call_id,
        "model": (response.model if response else None) or event.model,
        "deployment": response.deployment if response else None,
        "tenant": event.tenant,
        "tags": dict(event.tags),
        "stream": event.stream,
        "error": event.error,
        "cached": bool(response and response.cached),
        "estimated": bool(totals.estimated),
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cached_tokens": totals.cached_tokens,
        "cost": response.cost if response and not response.cached else (0.0 if response else None),
        "saved": totals.saved,
        "latency": round(event.latency, 6),
    }
