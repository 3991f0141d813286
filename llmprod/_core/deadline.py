"""The call's deadline: an absolute ``time.monotonic()`` value on the request."""

from __future__ import annotations

import time

from .models import ChatRequest


def time_left(request: ChatRequest) -> float | None:
    """Seconds until the request's deadline (negative once passed), or None if unbounded."""
    deadline = request.metadata.deadline
    return None if deadline is None else deadline - time.monotonic()


def bounded(request: ChatRequest, limit: float | None) -> tuple[float | None, bool]:
    """The smaller of ``limit`` and the time left, and whether the deadline is the bound."""
    left = time_left(request)
    if left is None:
        return limit, False
    if limit is None or left <= limit:
        return max(left, 0.0), True
    return limit, False
