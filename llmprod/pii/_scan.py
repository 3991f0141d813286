"""One pass over a text for every detector, then overlaps resolved.

The pass is one search for a single character class, ``[0-9@:=%]``: every built-in
value holds one of those (a number, an address, a credential's ``=`` or ``:``), so
text without them (most prose) costs one C-speed scan. Each hit is handed to the
detectors that can hold it, which look around it and validate; the search then goes
on after what they consumed. Two credentials can hold none of those characters, an
AWS key id (16 base-32 letters) and a private-key block: their fixed prefixes are
found with ``str.find``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ._addresses import EMAIL_REACH, find_email, find_ipv6
from ._detectors import (
    CREDIT_CARD,
    EMAIL,
    ENTITIES,
    IBAN,
    IPV4,
    IPV6,
    PHONE,
    SECRET,
    SSN,
    Detector,
    Span,
    SpanFinder,
    find_custom,
)
from ._numbers import RUN, find_iban, find_numbers, number_checks
from ._secrets import (
    BLOCK,
    BLOCK_BEGIN,
    BLOCK_MAX,
    KEY_BEFORE,
    TOKEN,
    TOKEN_MAX,
    URL_USERINFO,
    VALUE,
    VALUE_MAX,
    token_ok,
    value_ok,
)

_ANCHOR = re.compile(r"[0-9@:=%]")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
_TOKEN_END = re.compile(r"[A-Za-z0-9_\-.]*")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NUMBER_ENTITIES = frozenset({CREDIT_CARD, SSN, IPV4, PHONE})
_KEY_WINDOW = 64
_TRAILING = frozenset(".,:;")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_ENTITY_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,40}\Z")
_KEY_WORDS = ("pass", "pwd", "secret", "key", "token", "auth", "credential")
_ANCHOR_BEFORE = 24  # how far before a match its anchor can be (password = "...)

LOOKAHEAD = 3
"""How many characters after a match the detectors read to decide it."""


class Scanner:
    """Finds the PII spans of a text with the enabled built-in and custom detectors."""

    __slots__ = ("_checks", "_custom", "_entities", "_rank", "extra", "longest", "reach")

    def __init__(self, entities: Iterable[str] | None = None, detectors: Sequence[Detector | SpanFinder] = ()) -> None:
        from .._core.errors import ConfigError

        regex = [d for d in detectors if isinstance(d, Detector)]
        extra = [d for d in detectors if not isinstance(d, Detector)]
        for d in extra:
            if not isinstance(d, SpanFinder):
                raise ConfigError(f"not a detector: {type(d).__name__}", path="pii.detectors")
        names = {d.name for d in regex} | {name for d in extra for name in getattr(d, "entities", ())}
        chosen = frozenset(ENTITIES if entities is None else entities)
        unknown = chosen - set(ENTITIES) - names
        if unknown:
            # Echo only what looks like an entity name: a value pasted here by mistake may be PII.
            shown = sorted(u if _ENTITY_NAME.match(u) else "<not a name>" for u in unknown)
            raise ConfigError(f"unknown entities {shown}; known: {[*ENTITIES, *sorted(names)]}", path="pii.entities")
        self._entities = chosen & frozenset(ENTITIES)
        self._checks = number_checks(self._entities & _NUMBER_ENTITIES)
        self._custom = tuple(d for d in regex if entities is None or d.name in chosen)
        self.extra: tuple[SpanFinder, ...] = tuple(extra)
        # Custom detectors first: at equal spans, the user's own type wins.
        order = [d.name for d in self._custom] + [n for d in self.extra for n in d.entities] + list(ENTITIES)
        self._rank = {name: i for i, name in enumerate(order)}
        longest = [EMAIL_REACH, *(d.max_len for d in self._custom)]
        if SECRET in self._entities:
            longest.append(TOKEN_MAX)
        self.longest = max(longest)
        """The longest single-line match any enabled detector can make."""
        self.reach = self.longest + LOOKAHEAD

    @property
    def entities(self) -> frozenset[str]:
        return self._entities | {d.name for d in self._custom} | {n for d in self.extra for n in d.entities}

    def scan(
        self, text: str, pos: int = 0, endpos: int | None = None, raw: list[tuple[int, int]] | None = None
    ) -> list[Span]:
        """Non-overlapping spans in ``text[pos:endpos]``, in order.

        ``raw`` collects every candidate match, valid or not (the stream needs them).
        """
        end = len(text) if endpos is None else endpos
        found: list[Span] = []
        if self._entities:
            # An assignment's value may start a little after its "=": look from a little before pos.
            self._builtin(text, max(0, pos - _ANCHOR_BEFORE), end, found, raw)
            if pos:
                found = [s for s in found if s[0] >= pos]
        for detector in self._custom:
            find_custom(text, pos, end, detector, found, raw)
        for model in self.extra:
            model.find(text, pos, end, found)
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

    def _builtin(self, text: str, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> None:
        entities = self._entities
        secrets = SECRET in entities
        emails = EMAIL in entities
        ipv6 = IPV6 in entities
        iban = IBAN in entities
        checks = self._checks
        if secrets:
            _prefixed(text, pos, end, found, raw)
        search = _ANCHOR.search
        i = pos
        while True:
            m = search(text, i, end)
            if m is None:
                return
            at = m.start()
            ch = text[at]
            if ch == "@":
                if secrets and _url_password(text, at, pos, found, raw):
                    i = at + 1  # user:password@host: the host is no email domain
                elif emails:
                    i = find_email(text, at, 1, pos, end, found, raw)
                else:
                    i = at + 1
                continue
            if ch == ":" or ch == "=":
                nxt = at
                if ipv6 and ch == ":":
                    nxt = find_ipv6(text, at, pos, end, found, raw)
                if secrets and nxt == at:
                    nxt = _assignment(text, at, pos, end, found, raw)
                i = max(nxt, at + 1)
                continue
            if ch == "%":
                if emails and text.startswith("40", at + 1):
                    i = find_email(text, at, 3, pos, end, found, raw)
                else:
                    i = at + 1
                continue
            # A digit: the token around it (a key, a JWT), a number run from it, an IBAN before it.
            nxt = at + 1
            if secrets:
                nxt = _token(text, at, pos, end, found, raw)
            start = at
            if at and text[at - 1] in "+(":
                start = at - 2 if at > 1 and text[at - 2 : at] == "(+" else at - 1
            run = RUN.match(text, start, end)
            stop = run.end() if run is not None else at + 1
            if checks and stop - start >= 6:
                find_numbers(text, start, min(end, stop + LOOKAHEAD), checks, found, raw)
            nxt = max(nxt, stop)
            if (
                iban
                and at >= 2
                and text[at - 1] in _LETTERS
                and text[at - 2] in _LETTERS
                and (at == 2 or text[at - 3] not in _ALNUM)
            ):
                nxt = max(nxt, find_iban(text, at - 2, end, found, raw))
            i = nxt


def _prefixed(text: str, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> None:
    """Credentials that may hold no digit: AWS key ids and private-key blocks, by their fixed prefixes."""
    for prefix in ("AKIA", "ASIA"):
        at = text.find(prefix, pos, end)
        while at != -1:
            m = TOKEN.match(text, at, end)
            if m is not None and raw is not None:
                raw.append(m.span())
            if m is not None and not any(ch.isdigit() for ch in m.group()):
                found.append((at, m.end(), SECRET))  # with a digit, the digit's pass finds it
            at = text.find(prefix, at + 4, end)
    at = text.find("-----BEGIN ", pos, end)
    while at != -1:
        if BLOCK_BEGIN.match(text, at, end):
            m = BLOCK.match(text, at, min(end, at + BLOCK_MAX))
            if m is not None:
                if raw is not None:
                    raw.append(m.span())
                found.append((at, m.end(), SECRET))
        at = text.find("-----BEGIN ", at + 11, end)


def _token(text: str, at: int, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """A prefixed credential in the token (letters, digits, ``_-.``) that holds the digit at ``at``."""
    start = at
    floor = max(0, at - TOKEN_MAX)
    while start > floor and text[start - 1] in _TOKEN_CHARS:
        start -= 1
    stop = _TOKEN_END.match(text, at, end).end()  # type: ignore[union-attr]
    if stop - start < 20:
        return at + 1
    for m in TOKEN.finditer(text, start, stop):
        if raw is not None:
            raw.append(m.span())
        if m.start() >= pos and token_ok(m.group()):
            found.append((m.start(), m.end(), SECRET))
    return stop


def _assignment(text: str, at: int, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """The value after ``password=``, ``"api_key": "...``, ``Authorization: Bearer ...``."""
    before = text[at - 1] if at else ""
    if not (before in _ALNUM or before in "\"' \t_-"):
        return at + 1
    window = text[max(0, at - 40) : at].lower()
    if not any(word in window for word in _KEY_WORDS):
        return at + 1
    if KEY_BEFORE.search(text, max(0, at - _KEY_WINDOW), at) is None:
        return at + 1
    m = VALUE.match(text, at, min(end, at + VALUE_MAX + 16))
    if m is None:
        return at + 1
    group = "quoted" if m.group("quoted") is not None else "auth" if m.group("auth") is not None else "bare"
    s, e = m.span(group)
    if group == "bare":
        while e > s and text[e - 1] in _TRAILING:  # the sentence's full stop is not part of the value
            e -= 1
    if raw is not None:
        raw.append((s, e))
    value = text[s:e]
    if group == "bare" and text[at] == ":" and (value.isalpha() and value.islower()):
        return m.end()  # "the secret: keep it simple" is prose; a password after ":" is rarely one plain word
    if group == "bare" and text[at - 1 : at] == " " and _IDENTIFIER.match(value):
        return m.end()  # `passwd = user_passwd`: code assigns a variable
    if s >= pos and e > s and value_ok(value, group != "bare"):
        found.append((s, e, SECRET))
    return m.end()


def _url_password(text: str, at: int, pos: int, found: list[Span], raw: list[tuple[int, int]] | None) -> bool:
    """The password of ``scheme://user:password@host`` whose ``@`` is at ``at``: whether there is one."""
    scheme = text.rfind("://", max(0, at - 260), at)
    if scheme < 2 or not text[scheme - 1].isalpha():
        return False
    m = URL_USERINFO.match(text, scheme + 3, at + 1)
    if m is None or m.end() != at + 1:
        return False
    s, e = m.span("password")
    if raw is not None:
        raw.append((s, e))
    value = m.group("password")
    if s >= pos and value.strip("*") and not value.startswith("$"):
        found.append((s, e, SECRET))
    return True
