"""Spend in Redis, shared by every process that uses the same URL: budget
reservations (:class:`RedisSpend`) and ledger totals (:class:`RedisLedgerStore`).

Reserving is one Lua script, so check-and-reserve is atomic across processes. Each
reservation carries an expiry: a process that dies holding one does not lock the
budget forever (the script drops expired reservations before it sums them).
The cost work's only redis import (the ``redis`` extra), when one of these is built.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from .._core.redis import async_client
from ._report import GROUPS, CostReport, Totals
from ._spend import Decision, Reservation

if TYPE_CHECKING:
    from redis.asyncio import Redis

RESERVATION_TTL = 600.0  # seconds a reservation may outlive its process

# KEYS: spent, reservations (hash id -> amount), expiries (zset id -> deadline)
# ARGV: id, amount, limit ('' for none), now, expires_at, key ttl (0 for none)
_RESERVE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local reserved = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do reserved = reserved + tonumber(v) end
local amount = tonumber(ARGV[2])
if ARGV[3] ~= '' and spent + reserved + amount > tonumber(ARGV[3]) then
  return {0, tostring(spent), tostring(reserved)}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
local ttl = tonumber(ARGV[6])
if ttl > 0 then
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
end
return {1, tostring(spent), tostring(reserved)}
"""

# KEYS: spent, reservations, expiries; ARGV: id, actual, key ttl (0 for none)
_SETTLE = """
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local spent = redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return spent
"""


def _connect(url: str, timeout: float) -> Redis:
    return async_client(url, timeout=timeout)


class RedisSpend:
    """The spend store of a Budget with ``redis_url``."""

    def __init__(self, url: str, *, prefix: str = "llmprod:budget", timeout: float = 1.0) -> None:
        self._redis = _connect(url, timeout)
        self._prefix = prefix
        self._reserve: Any = self._redis.register_script(_RESERVE)
        self._settle: Any = self._redis.register_script(_SETTLE)

    def __repr__(self) -> str:
        return "RedisSpend(<url hidden>)"  # the URL may hold a password

    def _keys(self, key: str) -> list[str]:
        base = f"{self._prefix}:{key}"
        return [f"{base}:spent", f"{base}:held", f"{base}:expiry"]

    async def reserve(self, key: str, amount: float, limit: float | None, ttl: int | None) -> Decision:
        rid = uuid.uuid4().hex
        now = time.time()
        cap = "" if limit is None else repr(limit)
        args = [rid, repr(amount), cap, repr(now), repr(now + RESERVATION_TTL), ttl or 0]
        ok, spent, reserved = await self._reserve(keys=self._keys(key), args=args)
        reservation = Reservation(key, rid, amount) if int(ok) == 1 else None
        return Decision(reservation, float(spent), float(reserved))

    async def settle(self, reservation: Reservation, actual: float, ttl: int | None) -> float:
        spent = await self._settle(keys=self._keys(reservation.key), args=[reservation.id, repr(actual), ttl or 0])
        return float(spent)

    async def release(self, reservation: Reservation) -> None:
        _, held, expiry = self._keys(reservation.key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(held, reservation.id)
            pipe.zrem(expiry, reservation.id)
            await pipe.execute()

    async def first_alert(self, key: str, kind: str, ttl: int | None) -> bool:
        return bool(await self._redis.set(f"{self._prefix}:{key}:alert:{kind}", "1", nx=True, ex=ttl or None))

    async def spent(self, key: str) -> float:
        value = await self._redis.get(self._keys(key)[0])
        return float(value) if value is not None else 0.0

    async def aclose(self) -> None:
        await self._redis.aclose()


_INT_FIELDS = tuple(name for name, f in Totals.__dataclass_fields__.items() if f.type in ("int", int))


class RedisLedgerStore:
    """Ledger totals as Redis hashes: ``<prefix>:<group>:<name>`` -> field -> number."""

    def __init__(self, url: str, *, prefix: str = "llmprod:ledger", timeout: float = 1.0) -> None:
        self._redis = _connect(url, timeout)
        self._prefix = prefix

    def __repr__(self) -> str:
        return "RedisLedgerStore(<url hidden>)"

    async def add(self, totals: Totals, names: dict[str, list[str]]) -> None:
        targets = [("total", "all")] + [(g, n) for g, keys in names.items() for n in keys]
        async with self._redis.pipeline(transaction=True) as pipe:
            for group, name in targets:
                key = f"{self._prefix}:{group}:{name}"
                pipe.sadd(f"{self._prefix}:{group}", name)
                for field_name in _INT_FIELDS:
                    value = getattr(totals, field_name)
                    if value:
                        pipe.hincrby(key, field_name, value)
                for field_name in ("cost", "saved"):
                    value = getattr(totals, field_name)
                    if value:
                        pipe.hincrbyfloat(key, field_name, value)
            await pipe.execute()

    async def _totals(self, group: str, name: str) -> Totals:
        raw = await self._redis.hgetall(f"{self._prefix}:{group}:{name}")
        values = {_text(k): _text(v) for k, v in raw.items()}
        out = Totals()
        for field_name, value in values.items():
            if field_name in _INT_FIELDS:
                setattr(out, field_name, int(value))
            elif field_name in ("cost", "saved"):
                setattr(out, field_name, float(value))
        return out

    async def report(self) -> CostReport:
        total = await self._totals("total", "all")
        groups: dict[str, dict[str, Totals]] = {}
        for group in GROUPS:
            names = sorted(_text(n) for n in await self._redis.smembers(f"{self._prefix}:{group}"))
            groups[group] = {n: await self._totals(group, n) for n in names}
        return CostReport(total, groups)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
