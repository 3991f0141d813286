"""One long-lived event loop on its own thread, for the sync :class:`Client`.

Connection pools stay bound to the loop that first used them, so the sync client
never calls ``asyncio.run`` per call: it submits every call to this one loop. The
caller's ``contextvars`` (OpenTelemetry's current span among them) are copied onto
the task, so spans opened on the loop nest under the caller's span. Calls may come
from any number of threads, and from inside a running event loop (a notebook).

A stream is pumped: one task on the loop reads it and hands each chunk to the caller's
thread through a queue, so the caller takes whatever is ready without a round trip to
the loop per chunk. :meth:`LoopThread.stop` ends every call still in flight with
:class:`ClientClosedError` before it stops the loop: no caller is left waiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from .._core.errors import ClientClosedError

T = TypeVar("T")
_END = object()


class LoopThread:
    def __init__(self, name: str = "llmprod-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._tasks: set[asyncio.Task[Any]] = set()  # touched on the loop thread only
        self._closing = False
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed() and not self._closing

    def _check(self, coro: Coroutine[Any, Any, Any]) -> None:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync llmprod.Client cannot be called from its own loop thread (a hook?)")
        if not self.running:
            coro.close()
            raise ClientClosedError("this llmprod.Client is closed")

    def _spawn(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> asyncio.Task[T]:
        """On the loop thread: start ``coro`` as a task this runner can cancel at close."""
        task = self.loop.create_task(coro, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and wait for its result in this thread."""
        self._check(coro)
        context = contextvars.copy_context()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            if self._closing:
                coro.close()
                result.set_exception(ClientClosedError("this llmprod.Client is closed"))
                return
            task = self._spawn(coro, context)
            tasks.append(task)

            def done(t: asyncio.Task[T]) -> None:
                if result.done():
                    return
                if t.cancelled():
                    result.set_exception(_closed_or_cancelled(self._closing))
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
        """Drive an async iterator from this thread: a task on the loop reads it ahead
        and this thread takes every item that is ready from a queue."""
        context = contextvars.copy_context()
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        started: concurrent.futures.Future[asyncio.Task[None]] = concurrent.futures.Future()

        async def pump() -> None:
            try:
                async for item in agen:
                    items.put(item)
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    items.put(_Raise(_closed_or_cancelled(self._closing)))
                else:
                    items.put(_Raise(exc))
                if not isinstance(exc, Exception):
                    raise
            finally:
                items.put(_END)

        def start() -> None:
            if self._closing:
                items.put(_Raise(ClientClosedError("this llmprod.Client is closed")))
                items.put(_END)
                started.set_result(None)  # type: ignore[arg-type]
                return
            started.set_result(self._spawn(pump(), context))

        if not self.running:
            raise ClientClosedError("this llmprod.Client is closed")
        self.loop.call_soon_threadsafe(start)
        return self._drain(items, started)

    def _drain(
        self, items: queue.SimpleQueue[Any], started: concurrent.futures.Future[asyncio.Task[None]]
    ) -> Iterator[Any]:
        finished = False
        try:
            while True:
                item = items.get()
                if item is _END:
                    finished = True
                    return
                if isinstance(item, _Raise):
                    raise item.error
                yield item
        finally:
            if not finished:
                # The caller stopped early (break, an exception, KeyboardInterrupt): stop
                # the pump, which closes the stream and finishes the call on the loop.
                task = started.result()
                if task is not None and self.running:
                    self.loop.call_soon_threadsafe(task.cancel)
                    while items.get() is not _END:
                        pass

    def stop(self, aclose: Coroutine[Any, Any, None] | None = None) -> None:
        """End every call in flight (:class:`ClientClosedError`), run ``aclose`` on the
        loop, and stop the thread."""
        if self._closing or self.loop.is_closed() or not self._thread.is_alive():
            if aclose is not None:
                aclose.close()
            return
        done = threading.Event()

        async def shut_down() -> None:
            self._closing = True
            try:
                pending = [t for t in self._tasks if t is not asyncio.current_task()]
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=5.0)
                if aclose is not None:
                    await aclose
            finally:
                done.set()

        if threading.current_thread() is self._thread:
            raise RuntimeError("a sync llmprod.Client cannot be closed from its own loop thread")
        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(shut_down()))
        done.wait(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class _Raise:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _closed_or_cancelled(closing: bool) -> BaseException:
    if closing:
        return ClientClosedError("the llmprod.Client was closed while this call was in flight")
    return concurrent.futures.CancelledError()
