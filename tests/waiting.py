"""Waiting until something holds: ordering, never timing.

Tests over real sockets (the fault server, a Redis server, a client's loop thread)
cannot run on virtual time. When they must wait for another party — the server to
see a request, a connection to close — they poll the condition with
:func:`eventually` (or :func:`eventually_sync` from a thread) and go on as soon as it
holds. The number of polls only bounds a broken build; nothing is measured. Under
virtual time (looptime) the pauses between polls are virtual too, so a wait that needs a
timer to fire (a hedge's delay) gets there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

POLLS = 6000
EVERY = 0.005  # seconds between two polls: a yield to the other party, not a measurement


async def eventually(condition: Callable[[], bool], what: str = "the condition") -> None:
    """Return once ``condition()`` holds, letting the loop run in between."""
    for _ in range(POLLS):
        if condition():
            return
        await asyncio.sleep(EVERY)
    raise AssertionError(f"{what} never held")


def eventually_sync(condition: Callable[[], bool], what: str = "the condition") -> None:
    """The same, from a thread that must not run an event loop."""
    pause = threading.Event()
    for _ in range(POLLS):
        if condition():
            return
        pause.wait(EVERY)
    raise AssertionError(f"{what} never held")
