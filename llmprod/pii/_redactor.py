"""The :class:`Redactor`: detectors, a mode, and the placeholder mapping of one session."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal, NamedTuple

from ._detectors import ENTITIES, Detector, Span, SpanFinder
from ._scan import Scanner

Mode = Literal["mask", "pseudonymize"]
_MASKS = {name: f"[{name}]" for name in ENTITIES}
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_([1-9][0-9]{0,6})>")


class Redaction(NamedTuple):
    """A redacted text and how many values of each type were replaced (never the values)."""

    text: str
    counts: Mapping[str, int]


class Redactor:
    """Redacts PII with the built-in detectors (or ``entities``) plus custom ``detectors``.

    ``mode="mask"`` writes ``[EMAIL]``. ``mode="pseudonymize"`` writes ``<EMAIL_1>``:
    within one Redactor (a session) the same value always gets the same placeholder,
    and :meth:`restore` puts the originals back. ``counts`` totals every redaction.

        r = Redactor(mode="pseudonymize")
        r.redact("mail jo@example.com")         # 'mail <EMAIL_1>'
        r.restore("I wrote to <EMAIL_1>.")      # 'I wrote to jo@example.com.'
    """

    __slots__ = ("_by_value", "_originals", "_seq", "counts", "mode", "scanner")

    def __init__(
        self,
        *,
        mode: Mode = "mask",
        entities: Iterable[str] | None = None,
        detectors: Sequence[Detector | SpanFinder] = (),
    ) -> None:
        from .._core.errors import ConfigError

        if mode not in ("mask", "pseudonymize"):
            raise ConfigError(f"must be 'mask' or 'pseudonymize', got {mode!r}", path="pii.mode")
        self.mode: Mode = mode
        self.scanner = Scanner(entities, detectors)
        self.counts: Counter[str] = Counter()
        self._by_value: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._seq: Counter[str] = Counter()

    def __repr__(self) -> str:  # never the mapping: it holds the originals
        return f"Redactor(mode={self.mode!r}, entities={sorted(self.scanner.entities)!r})"

    def redact(self, text: str) -> str:
        """``text`` with every detected value replaced."""
        return self.redact_with_counts(text).text

    def redact_with_counts(self, text: str) -> Redaction:
        """The redacted text and the counts of this call, by type."""
        spans = self.scanner.scan(text)
        counts: Counter[str] = Counter(s[2] for s in spans)
        self.counts.update(counts)
        return Redaction(self.replace(text, spans, 0, len(text)), dict(counts))

    def replace(self, text: str, spans: Sequence[Span], start: int, end: int) -> str:
        """``text[start:end]`` with ``spans`` (sorted, inside it) replaced."""
        if not spans:
            return text[start:end]
        parts: list[str] = []
        at = start
        if self.mode == "mask":
            for s, e, entity in spans:
                parts.append(text[at:s])
                parts.append(_MASKS.get(entity) or f"[{entity}]")
                at = e
        else:
            for s, e, entity in spans:
                parts.append(text[at:s])
                parts.append(self.placeholder(entity, text[s:e]))
                at = e
        parts.append(text[at:end])
        return "".join(parts)

    def placeholder(self, entity: str, value: str) -> str:
        if self.mode == "mask":
            return f"[{entity}]"
        key = (entity, value)
        found = self._by_value.get(key)
        if found is None:
            self._seq[entity] += 1
            found = f"<{entity}_{self._seq[entity]}>"
            self._by_value[key] = found
            self._originals[found] = value
        return found

    def placeholders(self) -> frozenset[str]:
        """Every placeholder handed out so far in this session."""
        return frozenset(self._originals)

    def restore(self, text: str, only: Collection[str] | None = None) -> str:
        """Put the originals back in place of this session's placeholders.

        ``only`` limits it to those placeholders (say, the ones made from the
        prompt, so that PII the model itself produced stays redacted).
        """
        if "<" not in text or not self._originals:
            return text
        originals = self._originals

        def back(m: re.Match[str]) -> str:
            key = m.group()
            if only is not None and key not in only:
                return key
            return originals.get(key, key)

        return PLACEHOLDER.sub(back, text)
