"""What can go wrong with one response: :class:`Fault`."""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Drop = Literal["reset", "close", "end"]
Framing = Literal["chunked", "close"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """How the server misbehaves for one request. Fields combine freely.

    Use the constructors for the common cases (``Fault.error(503)``,
    ``Fault.cut(after=3)``, ...); the fields are:

    - ``status``, ``message``, ``error_type``, ``code``: an error answer in the
      wire's error shape (``{"error": {...}}`` for OpenAI); ``body`` replaces that
      body with a raw one (a mapping is sent as JSON, a string or bytes as is).
    - ``headers``: extra response headers (``Retry-After``, ``retry-after-ms``,
      ``Set-Cookie``, ...), on an error or on a plain (non-streamed) answer.
    - ``delay``: seconds before the response starts; ``chunk_delay``: seconds
      between stream frames (a slow drip; with ``after`` alone, the drip starts after that
      many frames); ``hang``: never answer.
    - ``drop``: end the response early after ``after`` stream frames (or body bytes
      of a JSON answer; None: before any byte). ``"reset"`` sends a TCP RST,
      ``"close"`` closes the connection mid-body, ``"end"`` ends the body cleanly.
    - ``done``: whether a stream ends with the wire's terminal frame (``[DONE]``).
    - ``stream_error``: an error event inside a 200 stream, after ``after`` frames.
    - ``malformed``: a body (or, in a stream, frame ``after``) that is not JSON.
    - ``close``: close the kept-alive connection after the response, without
      saying so in a ``Connection: close`` header.
    - ``framing``: ``"chunked"`` or ``"close"`` (close-delimited) for streams.
    """

    status: int = 200
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    body: Mapping[str, Any] | str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    hang: bool = False
    drop: Drop | None = None
    after: int | None = None
    done: bool = True
    stream_error: str | None = None
    malformed: bool = False
    close: bool = False
    framing: Framing = "chunked"

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        if self.delay < 0 or self.chunk_delay < 0:
            raise ValueError("delay and chunk_delay must be >= 0")
        if self.after is not None and self.after < 0:
            raise ValueError("after must be >= 0")

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        error_type: str | None = None,
        code: str | None = None,
        body: Mapping[str, Any] | str | bytes | None = None,
        retry_after: float | str | datetime.datetime | None = None,
        retry_after_ms: float | None = None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
        delay: float = 0.0,
    ) -> Fault:
        """An error answer: ``status`` with the wire's error body (or ``body``).

        ``retry_after`` sets ``Retry-After`` (seconds, or a datetime sent as an HTTP
        date, or a raw string); ``retry_after_ms`` sets ``retry-after-ms``.
        """
        extra = dict(headers or {})
        if isinstance(retry_after, datetime.datetime):
            extra["Retry-After"] = email.utils.format_datetime(retry_after.astimezone(datetime.UTC), usegmt=True)
        elif isinstance(retry_after, float | int):
            extra["Retry-After"] = f"{retry_after:g}"
        elif retry_after is not None:
            extra["Retry-After"] = retry_after
        if retry_after_ms is not None:
            extra["retry-after-ms"] = f"{retry_after_ms:g}"
        return cls(
            status=status,
            message=message,
            error_type=error_type,
            code=code,
            body=body,
            headers=extra,
            close=close,
            delay=delay,
        )

    @classmethod
    def reset(cls, after: int | None = None) -> Fault:
        """Reset the connection (TCP RST): before any byte, or after ``after`` frames/bytes."""
        return cls(drop="reset", after=after)

    @classmethod
    def cut(cls, after: int, *, drop: Drop = "close", done: bool = False) -> Fault:
        """Cut a stream after ``after`` frames; ``drop="end"`` ends the body cleanly."""
        return cls(drop=drop, after=after, done=done)

    @classmethod
    def no_done(cls) -> Fault:
        """A complete stream that never sends the terminal ``[DONE]`` frame."""
        return cls(done=False)

    @classmethod
    def in_stream(cls, message: str = "internal error", *, after: int = 1, error_type: str = "server_error") -> Fault:
        """An HTTP 200 stream that reports an error event after ``after`` frames."""
        return cls(stream_error=message, after=after, error_type=error_type)

    @classmethod
    def garbage(cls, after: int = 1) -> Fault:
        """Malformed JSON: the whole body, or stream frame ``after``."""
        return cls(malformed=True, after=after)

    @classmethod
    def slow(cls, delay: float = 0.0, *, chunk_delay: float = 0.0) -> Fault:
        """A slow answer: ``delay`` before it starts, ``chunk_delay`` between frames."""
        return cls(delay=delay, chunk_delay=chunk_delay)

    @classmethod
    def stall(cls, after: int, seconds: float) -> Fault:
        """A stream that sends ``after`` frames at once, then ``seconds`` between the others."""
        return cls(after=after, chunk_delay=seconds)

    @classmethod
    def hanging(cls) -> Fault:
        """Never answer; the connection stays open until the client gives up."""
        return cls(hang=True)
