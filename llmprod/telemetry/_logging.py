"""Structured logging of calls on the ``llmprod`` logger (standard ``logging``).

One line per call: INFO when it succeeded, WARNING when it failed (as
``docs/observability.md`` says: a failure is what an operator filters for); breaker
state changes at WARNING (opened) or INFO. The fields are also attached as ``extra``
attributes (``record.llmprod``: a dict) for JSON formatters. Nothing here carries
prompt or answer text, API keys, tenant or user ids.
"""

from __future__ import annotations

import logging
from typing import Any

from .._core.events import BreakerStateChanged, CallFinished, Event


class LoggingHook:
    """Logs one line per call, with the fields as ``extra={"llmprod": {...}}``."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("llmprod")

    def __repr__(self) -> str:
        return f"LoggingHook({self.logger.name!r})"

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallFinished):
            self._call(event)
        elif isinstance(event, BreakerStateChanged):
            level = logging.WARNING if event.new == "open" else logging.INFO
            if self.logger.isEnabledFor(level):
                fields = {
                    "event": "breaker",
                    "deployment": event.deployment,
                    "replica": event.replica,
                    "old": event.old,
                    "new": event.new,
                }
                self.logger.log(
                    level,
                    "llmprod breaker %s: %s -> %s",
                    event.replica,
                    event.old,
                    event.new,
                    extra={"llmprod": fields},
                )

    def _call(self, event: CallFinished) -> None:
        level = logging.INFO if event.response is not None else logging.WARNING
        if not self.logger.isEnabledFor(level):
            return
        fields = call_fields(event)
        text = " ".join(f"{k}={v}" for k, v in fields.items() if k != "event" and v is not None)
        self.logger.log(level, "llmprod call %s", text, extra={"llmprod": fields})


def call_fields(event: CallFinished) -> dict[str, Any]:
    """The loggable fields of a finished call: ids, model, outcome, timings, usage, cost."""
    r = event.response
    fields: dict[str, Any] = {
        "event": "call",
        "call_id": event.call_id,
        "outcome": "ok" if r is not None else "error",
        "error": event.error,
        "model": r.model if r is not None else event.model,
        "deployment": r.deployment if r is not None else None,
        "stream": event.stream,
        "latency_ms": round(event.latency * 1000, 1),
        "ttft_ms": round(event.ttft * 1000, 1) if event.ttft is not None else None,
        "slo": event.slo,
    }
    if r is not None:
        fields.update(
            response_id=r.id,
            input_tokens=r.usage.prompt_tokens,
            output_tokens=r.usage.completion_tokens,
            cost_usd=r.cost,
            attempts=r.attempts,
            cached=r.cached,
            finish_reason=r.finish_reason,
        )
    return fields
