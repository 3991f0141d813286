"""Pytest plugin: no test key may show up in anything the test session produces.

Tests that need an API key use one of :data:`TEST_KEYS` (provider keys and tenant
keys). For the whole session this plugin collects:

- every log record, at DEBUG and up, formatted with its traceback (a root handler);
- the text of every llmprod error, when built and whenever it is rendered (``str``),
  with its cause chain;
- every OpenTelemetry span ended under an SDK ``TracerProvider`` (name, attributes,
  events, status), by adding a processor to each provider the tests build;
- the labels of every Prometheus metric in the default registry, at the end;
- uncaught exceptions in threads and unraisable ones;
- each test's report: its failure text and its captured stdout, stderr and log.

At the end of the session it searches all of it for the keys and fails the run if
one is found, naming where. :class:`SecretCollector` is the collector itself, so a
test can check that it catches a leak.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import pytest

OPENAI_TEST_KEY = "sk-test-llmprod-0penai-9f3b2c7d1e4a"
ANTHROPIC_TEST_KEY = "sk-ant-test-llmprod-7c1d9e2f4b6a"
COHERE_TEST_KEY = "co-test-llmprod-3e8a1f5c9d2b"
TENANT_KEY_A = "tk-test-tenant-a-5b7e9c1d3f8a2e6c"
TENANT_KEY_B = "tk-test-tenant-b-8d2f6a4c1e9b7d3f"
REDIS_TEST_PASSWORD = "redis-test-pw-4c9e1a7b3d5f"

TEST_KEYS: tuple[str, ...] = (
    OPENAI_TEST_KEY,
    ANTHROPIC_TEST_KEY,
    COHERE_TEST_KEY,
    TENANT_KEY_A,
    TENANT_KEY_B,
    REDIS_TEST_PASSWORD,
)


class SecretCollector:
    """Collects texts by where they came from, and finds keys in them."""

    def __init__(self, keys: Iterable[str] = TEST_KEYS) -> None:
        self.keys = tuple(keys)
        self._lock = threading.Lock()
        self._texts: list[tuple[str, str]] = []

    def add(self, where: str, text: object) -> None:
        try:
            rendered = text if isinstance(text, str) else repr(text)
        except Exception:  # a broken __repr__ must not break the session
            return
        # Keep only what could matter: a text with none of the keys is dropped at once.
        if any(key in rendered for key in self.keys):
            with self._lock:
                self._texts.append((where, rendered))

    def leaks(self) -> list[tuple[str, str, str]]:
        """(where, which key, an excerpt) for each text that holds a key."""
        found = []
        with self._lock:
            texts = list(self._texts)
        for where, text in texts:
            for key in self.keys:
                index = text.find(key)
                if index >= 0:
                    found.append((where, key, text[max(0, index - 60) : index + len(key) + 20]))
        return found

    def handler(self) -> logging.Handler:
        collector = self

        class _Capture(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
                try:
                    text = formatter.format(record)
                except Exception:
                    text = f"{record.msg!r} {record.args!r}"
                collector.add(f"log {record.name}", text)

        return _Capture(level=logging.DEBUG)


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


_COLLECTOR = SecretCollector()
_UNDO: list[Callable[[], None]] = []


def _watch_errors(collector: SecretCollector) -> None:
    from llmprod._core.errors import LLMProdError

    init, render = LLMProdError.__init__, LLMProdError.__str__

    def watched_init(self: LLMProdError, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        collector.add(f"error {type(self).__name__}", render(self))

    def watched_str(self: LLMProdError) -> str:
        text = render(self)
        collector.add(f"error {type(self).__name__}", text)
        # What a traceback (and logging, and error trackers) would print after the error.
        cause = self.__cause__ or (None if self.__suppress_context__ else self.__context__)
        if cause is not None and not isinstance(cause, LLMProdError):
            collector.add(f"cause of {type(self).__name__}", f"{type(cause).__name__}: {cause}")
        return text

    LLMProdError.__init__ = watched_init  # type: ignore[method-assign]
    LLMProdError.__str__ = watched_str  # type: ignore[method-assign]

    def undo() -> None:
        LLMProdError.__init__ = init  # type: ignore[method-assign]
        LLMProdError.__str__ = render  # type: ignore[method-assign]

    _UNDO.append(undo)


def _watch_spans(collector: SecretCollector) -> None:
    try:
        from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    except ImportError:
        return

    class _SpanCapture(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            events = [(e.name, dict(e.attributes or {})) for e in span.events]
            collector.add(f"span {span.name}", f"{span.name} {dict(span.attributes or {})} {events} {span.status}")

    original = TracerProvider.__init__

    def init(self: TracerProvider, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.add_span_processor(_SpanCapture())

    TracerProvider.__init__ = init  # type: ignore[method-assign]
    _UNDO.append(lambda: setattr(TracerProvider, "__init__", original))


def _scan_prometheus(collector: SecretCollector) -> None:
    prometheus = sys.modules.get("prometheus_client")
    if prometheus is None:
        return
    for metric in prometheus.REGISTRY.collect():
        for sample in metric.samples:
            collector.add(f"metric {sample.name}", f"{sample.name} {sample.labels}")


def _watch_hooks(collector: SecretCollector) -> None:
    thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook

    def on_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            collector.add("thread exception", _exception_text(args.exc_value))
        thread_hook(args)

    def on_unraisable(args: Any) -> None:
        if args.exc_value is not None:
            collector.add("unraisable exception", _exception_text(args.exc_value))
        unraisable_hook(args)

    threading.excepthook = on_thread
    sys.unraisablehook = on_unraisable

    def undo() -> None:
        threading.excepthook, sys.unraisablehook = thread_hook, unraisable_hook

    _UNDO.append(undo)


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    handler = _COLLECTOR.handler()
    root.addHandler(handler)
    if root.level > logging.DEBUG or root.level == logging.NOTSET:
        previous = root.level
        root.setLevel(logging.DEBUG)
        _UNDO.append(lambda: root.setLevel(previous))
    _UNDO.append(lambda: root.removeHandler(handler))
    _watch_errors(_COLLECTOR)
    _watch_spans(_COLLECTOR)
    _watch_hooks(_COLLECTOR)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.longrepr is not None:
        _COLLECTOR.add(f"report {report.nodeid}", report.longreprtext)
    for name, content in report.sections:
        _COLLECTOR.add(f"{name} {report.nodeid}", content)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _scan_prometheus(_COLLECTOR)
    while _UNDO:
        _UNDO.pop()()
    leaks = _COLLECTOR.leaks()
    if not leaks:
        return
    lines = [f"  {where}: {key[:12]}... in {excerpt!r}" for where, key, excerpt in leaks[:20]]
    message = f"secret hygiene: {len(leaks)} test key(s) leaked into logs, spans, metrics or errors:\n" + "\n".join(
        lines
    )
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(message, red=True)
    else:
        print(message, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
