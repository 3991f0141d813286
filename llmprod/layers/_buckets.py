"""Token buckets: the arithmetic, and the in-process store.

A bucket holds up to ``capacity`` and refills at ``rate`` per second. Taking ``cost``
is all-or-nothing across a call's buckets (requests and tokens): if every bucket can
pay after a wait of at most ``max_wait`` seconds, all are charged *now*, possibly
going negative, and the caller sleeps that wait. Charging up front queues callers in
arrival order and keeps admissions exact under concurrency: in any window of ``T``
seconds a bucket admits at most ``capacity + rate * T``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple


class Limit(NamedTuple):
    """One bucket's shape: ``name`` (for errors and events), size and refill per second."""

    name: str
    capacity: float
    rate: float


class Taken(NamedTuple):
    """What a take did: ``admitted`` (charged), the ``wait`` before proceeding (or, when
    not admitted, before a retry could be), and the ``limit`` that set that wait."""

    admitted: bool
    wait: float
    limit: str | None


def refill(level: float, stamp: float, now: float, limit: Limit) -> float:
    return min(limit.capacity, level + max(0.0, now - stamp) * limit.rate)


def plan(levels: Sequence[float], limits: Sequence[Limit], costs: Sequence[float], max_wait: float) -> Taken:
    """Whether refilled ``levels`` can pay ``costs`` within ``max_wait`` seconds (pure)."""
    wait, which = 0.0, None
    for level, limit, cost in zip(levels, limits, costs, strict=True):
        short = cost - level
        if short > 0 and short / limit.rate > wait:
            wait, which = short / limit.rate, limit.name
    return Taken(wait <= max_wait, wait, which)


class MemoryBuckets:
    """Buckets in this process, one per (key, limit name). Safe across tasks and threads.

    A caller's request and token buckets share its key, so the limit's name is part of
    a bucket's identity (as it is of the Redis key in ``_buckets_redis``).
    """

    _PRUNE_AT = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], tuple[float, float]] = {}  # (key, limit) -> (level, stamp)

    def _level(self, bucket: tuple[str, str], limit: Limit, now: float) -> float:
        level, stamp = self._state.get(bucket, (limit.capacity, now))
        return refill(level, stamp, now, limit)

    async def take(
        self, keys: Sequence[str], limits: Sequence[Limit], costs: Sequence[float], max_wait: float
    ) -> Taken:
        with self._lock:  # no await inside: check-and-charge is one step
            now = self._clock()
            buckets = [(key, limit.name) for key, limit in zip(keys, limits, strict=True)]
            levels = [self._level(b, lim, now) for b, lim in zip(buckets, limits, strict=True)]
            taken = plan(levels, limits, costs, max_wait)
            if taken.admitted:
                for bucket, level, cost in zip(buckets, levels, costs, strict=True):
                    self._state[bucket] = (level - cost, now)
                if len(self._state) > self._PRUNE_AT:
                    self._prune(now, set(buckets))
            return taken

    async def give(self, key: str, limit: Limit, amount: float) -> None:
        """Return ``amount`` to a bucket (negative: charge more), capped at its capacity."""
        with self._lock:
            now = self._clock()
            bucket = (key, limit.name)
            self._state[bucket] = (min(limit.capacity, self._level(bucket, limit, now) + amount), now)

    def _prune(self, now: float, fresh: set[tuple[str, str]]) -> None:
        # A bucket idle long enough to be full again is the same as no bucket.
        stale = [k for k, (_, stamp) in self._state.items() if k not in fresh and now - stamp > 120.0]
        for key in stale:
            del self._state[key]

    async def aclose(self) -> None:
        return None
