"""One long-lived event loop on its own thread, for the sync :class:`Client`.

Connection pools stay bound to the loop that first used them, so the sync client
never calls ``asyncio.run`` per call: it submits every call to this one loop. The
caller's ``contextvars`` (OpenTelemetry's current span among them) are copied onto
the task, so spans opened on the loop nest under the caller's span. Calls may come
from any number of threads, and from inside a running event loop (a notebook).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "llmprod-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and wait for its result in this thread."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync llmprod.Client cannot be called from its own loop thread (a hook?)")
        if not self.running:
            coro.close()
            raise RuntimeError("this llmprod.Client is closed")
        context = contextvars.copy_context()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self.loop.create_task(coro, context=context)
            tasks.append(task)

            def done(t: asyncio.Task[T]) -> None:
                if t.cancelled():
                    result.cancel()
                elif (exc := t.exception()) is not None:
                    result.set_exception(exc)
                else:
                    result.set_result(t.result())

            task.add_done_callback(done)

        self.loop.call_soon_threadsafe(start)
        try:
            return result.result()
        except BaseException:
            # KeyboardInterrupt in the caller (or any exit while waiting): cancel the task.
            if not result.done():
                self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
            raise

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Drive an async iterator from this thread, one item per round trip."""

        async def step() -> T:
            return await anext(agen)

        try:
            while True:
                try:
                    item = self.run(step())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and self.running:
                self.run(aclose())

    def stop(self) -> None:
        if not self.running:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()
