"""Streaming redaction and restoring.

:class:`StreamRedactor` holds back only the tail that could still grow into (or
decide) a match, and emits the rest redacted. Where the text may be cut follows
from the rule every single-line detector keeps: no match contains a *break* (see
``_detectors``). A cut next to a break is final, because every detector decides a
match from at most ``LOOKAHEAD`` characters after it, and those are read only when
they are no break. Three things hold the cut further back:

- a value that no break interrupts (a long token): the text is cut where every
  candidate to its left is decided, ``Scanner.reach`` (the longest possible match,
  plus the lookahead) before the end, past any candidate that crosses that point;
- a quoted credential (``password="p@ss word!"`` may hold breaks): from its
  opening quote until it closes (at most ``VALUE_MAX`` characters);
- a private-key block: from its ``-----BEGIN`` line until its footer, a character
  no block holds, or ``BLOCK_MAX`` characters;
- a model detector (``SpanFinder``): its ``unit_max``.

So ``held`` never exceeds :attr:`StreamRedactor.bound`, and the concatenated output
equals ``Redactor.redact`` of the whole text, whatever the chunking; the test suite
checks both with random chunkings.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from ._detectors import HARD, SPACES, Detector, SpanFinder, space_joins
from ._redactor import Mode, Redactor
from ._scan import LOOKAHEAD
from ._secrets import BLOCK, BLOCK_BEGIN, BLOCK_BODY, BLOCK_MAX, KEY_BEFORE, SECRET, VALUE_MAX

_CONTEXT = 512  # raw characters kept for lookbehinds and context words (every look back is shorter)
_hard_cache: dict[str, bool] = {}
_QUOTED_FROM = re.compile(r"[^\"'\s]*\Z")
_LAST_SPACE = re.compile(r"\s(?=\S*\Z)")


def _hard(ch: str) -> bool:
    found = _hard_cache.get(ch)
    if found is None:
        found = HARD.match(ch) is not None
        if len(_hard_cache) < 4096:
            _hard_cache[ch] = found
    return found


def _safe(buf: str, c: int, before: str) -> bool:
    """Whether no single-line match can contain both ``buf[c - 1]`` and ``buf[c]`` (or what follows, at the end)."""
    a = buf[c - 1]
    prev = buf[c - 2] if c >= 2 else before
    if c == len(buf):
        if _hard(a):
            return True
        return a in SPACES and not space_joins(prev, "0") and not space_joins(prev, "A")
    b = buf[c]
    if _hard(a) or _hard(b):
        return True
    if a in SPACES and not space_joins(prev, b):
        return True
    if b in SPACES:
        if c + 1 < len(buf):
            return not space_joins(a, buf[c + 1])
        return not space_joins(a, "0") and not space_joins(a, "A")
    return False


class StreamRedactor:
    """Redacts a text that arrives in chunks: ``feed(chunk) -> str``, then ``flush() -> str``.

    A value split across chunks (``"jo"``, ``"hn@exa"``, ``"mple.com"``) is still
    caught. Takes a :class:`Redactor` to share its session (placeholders), or the
    same arguments as one. ``counts`` totals this stream's redactions by type;
    ``held`` is how much is waiting, never more than ``bound``.

        s = StreamRedactor()
        s.feed("mail jo") + s.feed("hn@exa") + s.feed("mple.com now") + s.flush()
        # 'mail [EMAIL] now'
    """

    __slots__ = ("_buf", "_context", "_reach", "_secrets", "_unit", "bound", "counts", "redactor")

    def __init__(
        self,
        *,
        mode: Mode = "mask",
        entities: Iterable[str] | None = None,
        detectors: Sequence[Detector | SpanFinder] = (),
        redactor: Redactor | None = None,
    ) -> None:
        self.redactor = (
            redactor if redactor is not None else Redactor(mode=mode, entities=entities, detectors=detectors)
        )
        self.counts: Counter[str] = Counter()
        self._buf = ""
        self._context = ""
        scanner = self.redactor.scanner
        self._reach = scanner.reach
        self._secrets = SECRET in scanner.entities
        self._unit = max((d.unit_max for d in scanner.extra), default=0)
        bounds = [2 * scanner.reach, self._unit + scanner.reach]
        if self._secrets:
            bounds.append(BLOCK_MAX + LOOKAHEAD + 1)
        self.bound: int = max(bounds)
        """The most characters ``held`` can ever be, right after a ``feed``."""

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
        before = self._context[-1:]
        cut = 0
        for c in range(len(buf), max(1, old - 1) - 1, -1):
            if _safe(buf, c, before):
                cut = c
                break
        if cut == 0 and old:
            cut = self._last_safe(buf, old - 1, before)
        if self._secrets and cut:
            cut = self._before_open_secret(buf, cut)
        if self._unit and cut:
            cut = self._unit_cut(buf, cut)
        if len(buf) - cut > self._reach and not self._holding_secret(buf, cut):
            return self._emit_long(buf, cut)
        if cut == 0:
            self._buf = buf
            return ""
        return self._emit(buf, cut)

    def flush(self) -> str:
        """Emit what is held back: the stream has ended."""
        buf, self._buf = self._buf, ""
        return self._emit(buf, len(buf)) if buf else ""

    def _last_safe(self, buf: str, upto: int, before: str) -> int:
        for c in range(upto, 0, -1):
            if _safe(buf, c, before):
                return c
        return 0

    def _before_open_secret(self, buf: str, cut: int) -> int:
        """Move ``cut`` back before a quoted credential or a private-key block still open at it."""
        text = self._context + buf
        offset = len(self._context)
        c = offset + cut
        block = text.rfind("-----BEGIN ", max(0, len(text) - BLOCK_MAX), c)
        if block != -1 and block >= offset:
            head = BLOCK_BEGIN.match(text, block)
            if head is not None and self._block_open(text, block, head.end()):
                return min(cut, block - offset)
        bare = self._open_bare(text, c)
        if bare is not None and bare >= offset:
            cut = min(cut, bare - offset)
            c = offset + cut
        quote = max(text.rfind('"', max(0, c - VALUE_MAX - 1), c), text.rfind("'", max(0, c - VALUE_MAX - 1), c))
        if quote >= offset - 1 and _QUOTED_FROM.match(text, quote + 1, c) and quote + 1 < c:
            j = quote - 1
            while j >= 0 and text[j] in " \t":
                j -= 1
            opened = j >= 0 and text[j] in "=:" and KEY_BEFORE(text, j)
            if opened and len(text) - quote <= VALUE_MAX + 1:
                return max(0, min(cut, quote + 1 - offset))
        return cut

    def _open_bare(self, text: str, c: int) -> int | None:
        """Where an unquoted credential (``passwd=ab#cd!``, which may hold breaks) still open at ``c`` starts."""
        ws = _LAST_SPACE.search(text, max(0, c - VALUE_MAX - 80), c)
        start = ws.end() if ws is not None else max(0, c - VALUE_MAX - 80)
        scheme = text.find("://", start, c)
        if scheme != -1 and text.find("@", scheme, c) == -1 and c - scheme <= 260:
            return scheme + 3  # user:password@ may still come, and a password may hold breaks
        for sep in (text.find("=", start, c), text.find(":", start, c)):
            if sep > 0 and c - sep <= VALUE_MAX + 1 and KEY_BEFORE(text, sep):
                return sep + 1
        j = start - 1
        while j >= 0 and text[j] in " \t":
            j -= 1
        if j >= 0 and text[j] in "=:" and start < c and KEY_BEFORE(text, j):
            return start
        return None

    def _block_open(self, text: str, start: int, body: int) -> bool:
        """Whether the block at ``start`` can still change: no footer, no foreign character, under its limit."""
        if len(text) - start >= BLOCK_MAX + LOOKAHEAD:
            return False
        m = BLOCK.match(text, start, start + BLOCK_MAX)
        if m is not None and "-----END " in m.group() and m.end() + LOOKAHEAD <= len(text):
            return False
        return BLOCK_BODY.match(text, body).end() >= len(text) - 1  # type: ignore[union-attr]

    def _holding_secret(self, buf: str, cut: int) -> bool:
        return self._secrets and len(buf) - cut <= BLOCK_MAX + LOOKAHEAD and "-----BEGIN " in buf[cut : cut + 40]

    def _unit_cut(self, buf: str, cut: int) -> int:
        """A model decides on whole units (lines, sentences): cut only after a closed one."""
        text = self._context + buf
        offset = len(self._context)
        for d in self.redactor.scanner.extra:
            closed = offset
            for _, end in d.units(text, offset, len(text)):
                if end >= len(text) or end > offset + cut:
                    break
                closed = end
            cut = min(cut, closed - offset)
        return cut

    def _emit(self, buf: str, cut: int, spans: list[tuple[int, int, str]] | None = None) -> str:
        context = self._context
        if spans is None:
            spans = self.redactor.scanner.scan(context + buf, len(context))
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
        text = self._context + buf
        spans = self.redactor.scanner.scan(text, offset, raw=raw)
        c0 = len(buf) - self._reach
        c = c0
        # Candidates that start before c0 are decided (they cannot reach the end): cut past them.
        for start, end in sorted(raw):
            s, e = start - offset, end - offset
            if s < c < e:
                c = e
        for start, end in raw:
            s, e = start - offset, end - offset
            if c0 <= s < c < e:  # an undecided candidate crosses: cut before the first that crosses c0
                c = min([c0] + [st - offset for st, en in raw if st - offset < c0 < en - offset])
                break
        cut = max(c, cut)
        if cut <= 0:
            self._buf = buf
            return ""
        return self._emit(buf, min(cut, len(buf)), spans)


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
