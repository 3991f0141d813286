"""Objects that config files in tests/test_config_file.py name by import path."""

from __future__ import annotations

from typing import Any, ClassVar

from llmprod._core.events import CallFinished, Event
from llmprod.layers import Layer


class Recorder:
    """A hook that keeps the finished calls it sees (class-wide, so a test can read them)."""

    finished: ClassVar[list[CallFinished]] = []

    def __init__(self, label: str = "default") -> None:
        self.label = label

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallFinished):
            Recorder.finished.append(event)


def canned_answer(request: Any, error: BaseException) -> str:
    return f"canned answer after {type(error).__name__}"


soft_alerts: list[tuple[str, float, float]] = []


def notify(budget: str, spent: float, limit: float) -> None:
    soft_alerts.append((budget, spent, limit))


def no_tickets(text: str) -> str | None:
    return "ticket number" if "TICKET-" in text else None


def prefer_large(response: Any) -> bool:
    return True


class PassThrough(Layer):
    """A user's own layer that changes nothing (for ``layers = [...]`` in a file)."""
