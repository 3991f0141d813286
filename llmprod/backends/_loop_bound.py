"""Pools bound to an event loop, closed when that loop shuts down."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable


def closed_with_loop(close: Callable[[], Awaitable[None]]) -> AsyncGenerator[None, None]:
    """Run ``close`` when the running loop shuts down; returns what to ``aclose()`` to
    run it sooner (it then runs once).

    A pool is bound to its loop; a client used from ``asyncio.run`` after
    ``asyncio.run`` would otherwise leave the first loop's connections (an aiohttp
    session) unclosed. The loop finalizes the async generators started on it when it
    shuts down (``asyncio.run`` does, so does ``asyncio.Runner``): this one, started
    here, closes the pool then, on its own loop.
    """

    async def lifetime() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await close()

    generator = lifetime()
    with contextlib.suppress(StopIteration):
        generator.asend(None).send(None)  # runs to its yield: the loop now tracks it
    return generator
