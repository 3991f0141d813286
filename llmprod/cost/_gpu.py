"""What a request costs on a self-hosted GPU deployment.

A GPU billed by the hour costs ``gpus * hourly_usd / 3600`` dollars each second it is
busy, however many requests it serves in that second. With continuous batching it
serves many at once, so billing each request its whole latency times that rate (the
common mistake) bills the same GPU-second many times over. Here each moment's cost is
shared among the requests in flight at that moment, in proportion to their tokens:
a request's cost is ``integral of rate * w_i / sum(w_j) dt`` over its lifetime.

The integral is kept as one running sum, the cost of one unit of weight so far
(``_per_weight``), so starting and finishing a request are O(1) and the requests'
costs always add up to the busy time times the rate. A request's weight is fixed
when it starts: its prompt tokens plus its expected completion tokens (the running
mean of past completions, capped by its ``max_tokens``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .._core.clock import now
from .._core.errors import ConfigError


def gpu_cost_per_million_tokens(*, hourly_usd: float, gpus: int = 1, tokens_per_second: float) -> float:
    """USD per million tokens of a GPU deployment kept busy at ``tokens_per_second``
    (aggregate over all concurrent requests). The figure to compare with API prices."""
    if tokens_per_second <= 0:
        raise ConfigError(f"must be > 0, got {tokens_per_second!r}", path="tokens_per_second")
    return hourly_usd * gpus / 3600 / tokens_per_second * 1_000_000


@dataclass(slots=True)
class _Slot:
    weight: float
    mark: float  # _per_weight when the slot opened


class GpuMeter:
    """Shares one deployment's GPU-seconds among the requests in flight together."""

    def __init__(
        self,
        *,
        hourly_usd: float,
        gpus: int = 1,
        clock: Callable[[], float] = now,
        initial_completion: float = 256.0,
    ) -> None:
        if hourly_usd < 0 or gpus < 1:
            raise ConfigError("needs hourly_usd >= 0 and gpus >= 1", path="deployment.gpu_hourly_usd")
        self.rate = hourly_usd * gpus / 3600.0
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}
        self._ids = itertools.count(1)
        self._per_weight = 0.0
        self._total_weight = 0.0
        self._last = clock()
        self._mean_completion = initial_completion
        self._finished = 0
        self.busy_seconds = 0.0

    def __repr__(self) -> str:
        return f"GpuMeter(${self.rate * 3600:.2f}/h, in_flight={len(self._slots)}, busy={self.busy_seconds:.1f}s)"

    def _advance(self, now: float) -> None:
        elapsed = max(now - self._last, 0.0)
        if self._slots and self._total_weight > 0:
            self._per_weight += self.rate * elapsed / self._total_weight
            self.busy_seconds += elapsed
        self._last = now

    def expected_weight(self, prompt_tokens: int, max_tokens: int | None) -> float:
        completion = self._mean_completion if max_tokens is None else min(self._mean_completion, max_tokens)
        return max(prompt_tokens + completion, 1.0)

    def start(self, weight: float) -> int:
        """A request began on this deployment; returns its ticket."""
        with self._lock:
            self._advance(self._clock())
            ticket = next(self._ids)
            self._slots[ticket] = _Slot(weight, self._per_weight)
            self._total_weight += weight
            return ticket

    def finish(self, ticket: int, completion_tokens: int | None = None) -> float:
        """The request ended; returns its share of the GPU cost in USD."""
        with self._lock:
            self._advance(self._clock())
            slot = self._slots.pop(ticket, None)
            if slot is None:
                return 0.0
            self._total_weight -= slot.weight
            if not self._slots:
                self._total_weight = 0.0  # drop float drift when idle
            if completion_tokens is not None:
                self._finished += 1
                self._mean_completion += (completion_tokens - self._mean_completion) / min(self._finished, 100)
            return slot.weight * (self._per_weight - slot.mark)

    def worst_case(self, seconds: float) -> float:
        """The most one request can cost if it runs ``seconds``: the whole GPU, alone."""
        return self.rate * max(seconds, 0.0)
