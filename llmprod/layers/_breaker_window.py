"""When a breaker opens: an error rate over a sliding time window, with a minimum volume.

Pure bookkeeping, no I/O in the in-memory window. A short run of consecutive failures
says little about a replica that serves many calls (30 % random faults produce runs of
five every few hundred calls); the rate of failures among enough recent calls does.
This is the rule Hystrix and resilience4j apply: open when at least ``minimum_calls``
ended in the last ``window`` seconds and at least ``failure_rate`` of them failed.

The window is kept in one-second buckets (ring of ``ceil(window)`` buckets), so each
call costs two integer additions and a decision sums at most ``window`` buckets.
:class:`RedisWindow` keeps the same buckets in Redis, shared by every process.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

from .._core.redis import errors as redis_errors

if TYPE_CHECKING:
    import redis


class Window(Protocol):
    def record(self, failed: bool, now: float) -> None: ...
    def tripped(self, now: float) -> bool: ...
    def clear(self) -> None: ...


class Rule:
    """The opening rule: ``failure_rate`` of at least ``minimum_calls`` in ``window`` s."""

    __slots__ = ("failure_rate", "minimum_calls", "slots")

    def __init__(self, *, failure_rate: float, minimum_calls: int, window: float) -> None:
        self.failure_rate = failure_rate
        self.minimum_calls = minimum_calls
        self.slots = max(1, math.ceil(window))

    def trips(self, calls: int, failures: int) -> bool:
        return calls >= self.minimum_calls and failures >= self.failure_rate * calls


class MemoryWindow:
    """The last ``rule.slots`` seconds of outcomes, in this process."""

    __slots__ = ("_calls", "_failures", "_stamp", "rule")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self._calls = [0] * rule.slots
        self._failures = [0] * rule.slots
        self._stamp = [-1] * rule.slots  # which second each slot holds

    def _slot(self, second: int) -> int:
        index = second % self.rule.slots
        if self._stamp[index] != second:
            self._stamp[index] = second
            self._calls[index] = 0
            self._failures[index] = 0
        return index

    def record(self, failed: bool, now: float) -> None:
        index = self._slot(int(now))
        self._calls[index] += 1
        if failed:
            self._failures[index] += 1

    def tripped(self, now: float) -> bool:
        second = int(now)
        oldest = second - self.rule.slots + 1
        calls = failures = 0
        for index, stamp in enumerate(self._stamp):
            if stamp >= oldest:
                calls += self._calls[index]
                failures += self._failures[index]
        return self.rule.trips(calls, failures)

    def clear(self) -> None:
        self._stamp = [-1] * self.rule.slots


class RedisWindow:
    """The same buckets in Redis (wall-clock seconds: processes on several hosts share
    them). Blocking: the breaker layer calls it off the event loop. A Redis that is down
    records nothing and trips nothing: the breaker reads closed until it answers."""

    def __init__(self, rule: Rule, client: redis.Redis, namespace: str) -> None:
        self.rule = rule
        self.client = client
        self.namespace = namespace

    def _keys(self, second: int) -> tuple[str, str]:
        return f"{self.namespace}:calls:{second}", f"{self.namespace}:failures:{second}"

    def record(self, failed: bool, now: float) -> None:
        try:
            self._record(failed, now)
        except redis_errors():
            return

    def _record(self, failed: bool, now: float) -> None:
        calls, failures = self._keys(int(now))
        ttl = self.rule.slots + 1
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(calls)
        pipe.expire(calls, ttl)
        if failed:
            pipe.incr(failures)
            pipe.expire(failures, ttl)
        pipe.execute()

    def tripped(self, now: float) -> bool:
        second = int(now)
        keys: list[str] = []
        for s in range(second - self.rule.slots + 1, second + 1):
            keys.extend(self._keys(s))
        try:
            values = self.client.mget(keys)
        except redis_errors():
            return False
        counts = [int(v or 0) for v in values]
        return self.rule.trips(sum(counts[0::2]), sum(counts[1::2]))

    def clear(self) -> None:
        second = int(_wall())
        keys: list[str] = []
        for s in range(second - self.rule.slots, second + 2):
            keys.extend(self._keys(s))
        try:
            self.client.delete(*keys)
        except redis_errors():
            return


def _wall() -> float:
    import time

    return time.time()
