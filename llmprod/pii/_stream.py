"""Streaming redaction and restoring.

:class:`StreamRedactor` holds back only the tail that could still grow into (or
decide) a match, and emits the rest redacted. Where the text may be cut follows
from one rule every detector keeps: no match contains a *break* (a character no
match may hold, a space that is not between two group characters, see
``_detectors``). So a cut between two characters is safe when one of them is a
break, and every match before it is final: each detector's lookahead is decided by
the first character after the match when that character is a break. A value that
no break interrupts (a long token) is cut instead where every candidate to its
left is decided: further than any detector can look (``Scanner.reach``) before the
end, and not inside a candidate.

The concatenated output equals ``Redactor.redact`` of the whole text, whatever the
chunking; the test suite checks it with random chunkings.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from ._detectors import ENTITIES, GROUP_LEFT, GROUP_RIGHT, HARD, Detector
from ._redactor import Mode, Redactor

_CONTEXT = 128  # raw characters kept for lookbehinds and context checks (version words)
_ANCHOR = re.compile(r"[0-9@:]")
_hard_cache: dict[str, bool] = {}


def _hard(ch: str) -> bool:
    found = _hard_cache.get(ch)
    if found is None:
        found = HARD.match(ch) is not None
        if len(_hard_cache) < 4096:
            _hard_cache[ch] = found
    return found


def _safe(buf: str, c: int, before: str) -> bool:
    """Whether no match can contain both ``buf[c - 1]`` and ``buf[c]`` (or what follows, at the end)."""
    a = buf[c - 1]
    prev = buf[c - 2] if c >= 2 else before
    if c == len(buf):
        if _hard(a):
            return True
        return a == " " and prev not in GROUP_LEFT
    b = buf[c]
    if _hard(a) or _hard(b):
        return True
    if a == " " and (prev not in GROUP_LEFT or b not in GROUP_RIGHT):
        return True
    return b == " " and (a not in GROUP_LEFT or (c + 1 < len(buf) and buf[c + 1] not in GROUP_RIGHT))


class StreamRedactor:
    """Redacts a text that arrives in chunks: ``feed(chunk) -> str``, then ``flush() -> str``.

    A value split across chunks (``"jo"``, ``"hn@exa"``, ``"mple.com"``) is still
    caught. Takes a :class:`Redactor` to share its session (placeholders), or the
    same arguments as one. ``counts`` totals this stream's redactions by type.

        s = StreamRedactor()
        s.feed("mail jo") + s.feed("hn@exa") + s.feed("mple.com now") + s.flush()
        # 'mail [EMAIL] now'
    """

    __slots__ = ("_buf", "_context", "_custom", "_hold_limit", "counts", "redactor")

    def __init__(
        self,
        *,
        mode: Mode = "mask",
        entities: Iterable[str] | None = None,
        detectors: Sequence[Detector] = (),
        redactor: Redactor | None = None,
    ) -> None:
        self.redactor = (
            redactor if redactor is not None else Redactor(mode=mode, entities=entities, detectors=detectors)
        )
        self.counts: Counter[str] = Counter()
        self._buf = ""
        self._context = ""
        self._custom = bool(detectors) or any(n not in ENTITIES for n in self.redactor.scanner.entities)
        self._hold_limit = 2 * self.redactor.scanner.reach

    def __repr__(self) -> str:
        return f"StreamRedactor(held={len(self._buf)})"

    @property
    def held(self) -> int:
        """How many characters are held back, waiting for the next chunk."""
        return len(self._buf)

    def feed(self, chunk: str) -> str:
        """Add ``chunk``; return the redacted text that can no longer change."""
        if not chunk:
            return ""
        old = len(self._buf)
        buf = self._buf + chunk
        cut = 0
        for c in range(len(buf), max(1, old - 1) - 1, -1):
            if _safe(buf, c, self._context[-1:]):
                cut = c
                break
        if len(buf) - cut > self._hold_limit:
            return self._emit_long(buf, cut)
        if cut == 0:
            self._buf = buf
            return ""
        return self._emit(buf, cut)

    def flush(self) -> str:
        """Emit what is held back: the stream has ended."""
        buf, self._buf = self._buf, ""
        return self._emit(buf, len(buf)) if buf else ""

    def _emit(self, buf: str, cut: int, spans: list[tuple[int, int, str]] | None = None) -> str:
        context = self._context
        if spans is None:
            if self._custom or _ANCHOR.search(buf, 0, cut):
                spans = self.redactor.scanner.scan(context + buf, len(context))
            else:
                spans = []
        offset = len(context)
        limit = offset + cut
        chosen = [s for s in spans if s[0] < limit]
        self.counts.update(s[2] for s in chosen)
        self.redactor.counts.update(s[2] for s in chosen)
        out = self.redactor.replace(context + buf, chosen, offset, limit)
        self._context = (context + buf[:cut])[-_CONTEXT:]
        self._buf = buf[cut:]
        return out

    def _emit_long(self, buf: str, cut: int) -> str:
        """A long run without breaks: cut where every candidate to the left is decided."""
        raw: list[tuple[int, int]] = []
        offset = len(self._context)
        spans = self.redactor.scanner.scan(self._context + buf, offset, raw=raw)
        c = len(buf) - self.redactor.scanner.reach - 1
        for start, end in sorted(raw, reverse=True):
            if start - offset < c < end - offset:
                c = start - offset
        cut = max(c, cut)
        if cut <= 0:
            self._buf = buf
            return ""
        return self._emit(buf, cut, spans)


_PARTIAL_PLACEHOLDER = re.compile(r"<[A-Z0-9_]{0,40}\Z")


class StreamRestorer:
    """Puts originals back into a streamed answer; never splits a placeholder.

    Holds back only a trailing ``<...`` that could still become a placeholder.
    """

    __slots__ = ("_buf", "_only", "redactor")

    def __init__(self, redactor: Redactor, *, only: Collection[str] | None = None) -> None:
        self.redactor = redactor
        self._only = only
        self._buf = ""

    def feed(self, chunk: str) -> str:
        buf = self._buf + chunk
        at = buf.rfind("<")
        if at != -1 and _PARTIAL_PLACEHOLDER.match(buf, at):
            self._buf = buf[at:]
            buf = buf[:at]
        else:
            self._buf = ""
        return self.redactor.restore(buf, self._only) if buf else ""

    def flush(self) -> str:
        buf, self._buf = self._buf, ""
        return self.redactor.restore(buf, self._only) if buf else ""
