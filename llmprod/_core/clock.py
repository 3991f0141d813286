"""The one clock a call reads: the running event loop's.

Deadlines, attempt latencies, backoffs and rate-limit buckets all read :func:`now`,
which is ``loop.time()`` (``time.monotonic()`` unless the loop says otherwise). The
timeouts asyncio arms use the same clock, so a test that runs the loop on virtual time
controls every wait of a call at once, and no test needs to read a wall clock.
"""

from __future__ import annotations

import asyncio
import time


def now() -> float:
    """Seconds on the running loop's clock; ``time.monotonic()`` outside a loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
