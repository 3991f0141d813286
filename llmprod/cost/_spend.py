"""Spend per budget key, and reservations against it.

A hard budget is never overspent by concurrent calls because a call first *reserves*
its worst-case cost: the reservation succeeds only if ``spent + reserved + worst <=
limit``, checked and recorded in one step. When the call ends the reservation is
settled to the actual cost (or released on error). :class:`MemorySpend` does this in
one process; :class:`~llmprod.cost._spend_redis.RedisSpend` atomically across
processes with a Lua script.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Protocol


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
