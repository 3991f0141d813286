"""Budget bookkeeping: which budget a call counts against, and the spend store.

A hard budget is never overspent because a call first *reserves* its worst-case cost:
the reservation succeeds only if ``spent + reserved + worst <= limit``, checked and
recorded in one step. When the call ends the reservation is settled to the actual
cost (or released on error). :class:`MemorySpend` does this in one process; the
Redis store (``_budget_redis``) does it atomically across processes with a Lua script.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from .._core.config import Budget
from .._core.models import ChatRequest


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


@dataclass(frozen=True, slots=True)
class Reservation:
    key: str  # scope and window, e.g. "tenant:acme@2026-11"
    id: str
    amount: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to a reservation: ``reservation`` is None when refused."""

    reservation: Reservation | None
    spent: float
    reserved: float


class SpendStore(Protocol):
    async def reserve(self, key: str, amount: float, limit: float | None, ttl: int | None) -> Decision: ...

    async def settle(self, reservation: Reservation, actual: float, ttl: int | None) -> float: ...

    async def release(self, reservation: Reservation) -> None: ...

    async def first_alert(self, key: str, kind: str, ttl: int | None) -> bool: ...

    async def spent(self, key: str) -> float: ...

    async def aclose(self) -> None: ...


class MemorySpend:
    """Spend per budget key in this process; every method is atomic (one lock, no await)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[str, float] = {}
        self._reserved: dict[str, dict[str, float]] = {}
        self._alerts: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)

    async def reserve(self, key: str, amount: float, limit: float | None, ttl: int | None) -> Decision:
        with self._lock:
            spent = self._spent.get(key, 0.0)
            held = self._reserved.setdefault(key, {})
            reserved = sum(held.values())
            if limit is not None and spent + reserved + amount > limit:
                return Decision(None, spent, reserved)
            reservation = Reservation(key, str(next(self._ids)), amount)
            held[reservation.id] = amount
            return Decision(reservation, spent, reserved)

    async def settle(self, reservation: Reservation, actual: float, ttl: int | None) -> float:
        with self._lock:
            self._reserved.get(reservation.key, {}).pop(reservation.id, None)
            spent = self._spent.get(reservation.key, 0.0) + actual
            self._spent[reservation.key] = spent
            return spent

    async def release(self, reservation: Reservation) -> None:
        with self._lock:
            self._reserved.get(reservation.key, {}).pop(reservation.id, None)

    async def first_alert(self, key: str, kind: str, ttl: int | None) -> bool:
        with self._lock:
            if (key, kind) in self._alerts:
                return False
            self._alerts.add((key, kind))
            return True

    async def spent(self, key: str) -> float:
        with self._lock:
            return self._spent.get(key, 0.0)

    async def aclose(self) -> None:
        return None


def make_store(budget: Budget) -> SpendStore:
    if budget.redis_url:
        from ._spend_redis import RedisSpend

        return RedisSpend(budget.redis_url)
    return MemorySpend()
