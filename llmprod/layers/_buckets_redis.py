"""Token buckets in Redis, shared by every process that points at it.

One Lua script does the refill, the check and the charge of all of a call's buckets
in a single atomic step, on the Redis server's clock, so processes on different
machines share one limit exactly. The same script, with a negative cost and no wait
bound, returns unused tokens. redis-py is imported here only, when the store is built.

If Redis cannot be reached the limiter falls back to this process's own buckets (a
warning is logged, without the URL, which may hold a password): limits then hold per
process rather than not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .._core.redis import async_client
from .._core.redis import errors as redis_errors
from ._buckets import Limit, MemoryBuckets, Taken

log = logging.getLogger("llmprod")

# KEYS: one hash per bucket. ARGV[1]: max wait (s); then capacity, rate, cost per bucket.
# Returns {admitted (0/1), wait (string: Lua numbers become integers), blocking index}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_wait = tonumber(ARGV[1])
local levels, wait, which = {}, 0, 0
for i = 1, #KEYS do
  local cap, rate, cost = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])
  local v = redis.call('HMGET', KEYS[i], 'level', 'stamp')
  local level = tonumber(v[1]) or cap
  local stamp = tonumber(v[2]) or now
  level = math.min(cap, level + math.max(0, now - stamp) * rate)
  levels[i] = level
  local short = cost - level
  if short > 0 and short / rate > wait then wait, which = short / rate, i end
end
if wait > max_wait then return {0, tostring(wait), which} end
for i = 1, #KEYS do
  local cap, rate, cost = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])
  local level = math.min(cap, levels[i] - cost)
  redis.call('HSET', KEYS[i], 'level', tostring(level), 'stamp', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(((cap - level) / rate + 1) * 1000))
end
return {1, tostring(wait), which}
"""

_NO_BOUND = "1e18"


class RedisBuckets:
    """Buckets in Redis under ``prefix``; the in-process buckets when Redis fails."""

    def __init__(self, url: str, *, prefix: str = "llmprod:rl") -> None:
        self._client: Any = async_client(url, timeout=2.0)
        self._script: Any = self._client.register_script(_TAKE)
        self._prefix = prefix
        self._local = MemoryBuckets()
        self._errors = redis_errors()

    def __repr__(self) -> str:
        return "RedisBuckets(...)"  # the URL may carry a password

    async def _run(self, keys: Sequence[str], limits: Sequence[Limit], costs: Sequence[float], max_wait: str) -> Taken:
        args: list[str] = [max_wait]
        for limit, cost in zip(limits, costs, strict=True):
            args += [repr(limit.capacity), repr(limit.rate), repr(float(cost))]
        # A hash tag keeps one caller's buckets in one Redis Cluster slot.
        names = [f"{self._prefix}:{{{key}}}:{limit.name}" for key, limit in zip(keys, limits, strict=True)]
        admitted, wait, which = await self._script(keys=names, args=args)
        wait_s = float(wait.decode() if isinstance(wait, bytes) else wait)
        return Taken(bool(int(admitted)), wait_s, limits[int(which) - 1].name if int(which) else None)

    async def take(
        self, keys: Sequence[str], limits: Sequence[Limit], costs: Sequence[float], max_wait: float
    ) -> Taken:
        try:
            return await self._run(
                keys, limits, costs, repr(float(max_wait)) if max_wait != float("inf") else _NO_BOUND
            )
        except self._errors as exc:
            log.warning("llmprod: rate-limit store unreachable (%s); limiting in this process", type(exc).__name__)
            return await self._local.take(keys, limits, costs, max_wait)

    async def give(self, key: str, limit: Limit, amount: float) -> None:
        try:
            await self._run([key], [limit], [-amount], _NO_BOUND)
        except self._errors as exc:
            log.warning("llmprod: rate-limit store unreachable (%s); limiting in this process", type(exc).__name__)
            await self._local.give(key, limit, amount)

    async def aclose(self) -> None:
        await self._client.aclose()
