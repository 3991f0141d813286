"""Budget bookkeeping: which budget a call counts against, in which window, and where
its spend is kept (:func:`make_store`: in memory, or in Redis shared by processes).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from .._core.config import Budget
from .._core.models import ChatRequest
from ._spend import MemorySpend, SpendStore


def window_id(window: str, now: float | None = None) -> str:
    """The current window's name: ``total``, ``2026-11-27`` or ``2026-11`` (UTC)."""
    if window == "total":
        return "total"
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%d" if window == "day" else "%Y-%m")


def window_ttl(window: str) -> int | None:
    """Seconds a window's keys must outlive it (None: forever)."""
    return {"day": 2 * 86_400, "month": 62 * 86_400}.get(window)


def scope(budget: Budget, request: ChatRequest) -> str:
    """What the call counts against: ``client``, ``tenant:acme``, ``tag:team=search``."""
    if budget.per == "client":
        return "client"
    if budget.per == "tenant":
        return f"tenant:{request.metadata.tenant or '-'}"
    name = budget.per.removeprefix("tag:")
    return f"tag:{name}={request.metadata.tags.get(name, '-')}"


def make_store(budget: Budget) -> SpendStore:
    if budget.redis_url:
        from ._spend_redis import RedisSpend

        return RedisSpend(budget.redis_url)
    return MemorySpend()
