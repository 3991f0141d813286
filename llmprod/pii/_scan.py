"""One pass over a text: every enabled detector, then overlaps resolved."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._detectors import (
    CREDIT_CARD,
    EMAIL,
    EMAIL_REACH,
    ENTITIES,
    IBAN,
    IPV4,
    IPV6,
    PHONE,
    SSN,
    Detector,
    Span,
    find_custom,
    find_emails,
    find_ibans,
    find_ipv6,
    find_numbers,
)

_NUMBER_ENTITIES = frozenset({CREDIT_CARD, SSN, IPV4, PHONE})


class Scanner:
    """Finds the PII spans of a text with the enabled built-in and custom detectors.

    Anchors first: the number detectors run only inside runs of number characters,
    emails only around an ``@``, IPv6 only around a colon pair; a detector whose
    anchor is absent costs one ``str.find``.
    """

    __slots__ = ("_custom", "_entities", "_numbers", "_rank", "reach")

    def __init__(self, entities: Iterable[str] | None = None, detectors: Sequence[Detector] = ()) -> None:
        from .._core.errors import ConfigError

        chosen = frozenset(ENTITIES if entities is None else entities)
        unknown = chosen - set(ENTITIES) - {d.name for d in detectors}
        if unknown:
            raise ConfigError(f"unknown entities {sorted(unknown)}; known: {list(ENTITIES)}", path="pii.entities")
        self._entities = chosen
        self._numbers = chosen & _NUMBER_ENTITIES
        self._custom = tuple(d for d in detectors if entities is None or d.name in chosen)
        # Custom detectors first: at equal spans, the user's own type wins.
        order = [d.name for d in self._custom] + list(ENTITIES)
        self._rank = {name: i for i, name in enumerate(order)}
        self.reach = max([EMAIL_REACH, *(d.max_len + 2 for d in self._custom)])

    @property
    def entities(self) -> frozenset[str]:
        return self._entities | {d.name for d in self._custom}

    def scan(
        self, text: str, pos: int = 0, endpos: int | None = None, raw: list[tuple[int, int]] | None = None
    ) -> list[Span]:
        """Non-overlapping spans in ``text[pos:endpos]``, in order.

        ``raw`` collects every candidate match, valid or not (the stream needs them).
        """
        end = len(text) if endpos is None else endpos
        found: list[Span] = []
        entities = self._entities
        if self._numbers:
            find_numbers(text, pos, end, self._numbers, found, raw)
        if EMAIL in entities and text.find("@", pos, end) != -1:
            find_emails(text, pos, end, found, raw)
        if IPV6 in entities and text.find(":", pos, end) != -1:
            find_ipv6(text, pos, end, found, raw)
        if IBAN in entities:
            find_ibans(text, pos, end, found, raw)
        for detector in self._custom:
            find_custom(text, pos, end, detector, found, raw)
        if len(found) < 2:
            return found
        rank = self._rank
        found.sort(key=lambda s: (s[0], s[0] - s[1], rank[s[2]]))
        spans: list[Span] = []
        last_end = -1
        for span in found:
            if span[0] >= last_end:
                spans.append(span)
                last_end = span[1]
        return spans
