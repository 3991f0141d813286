"""One pass over a text for every detector, then overlaps resolved.

The pass is one regex search, the *prefilter* (:func:`prefilter`), that starts with a
single character class: ``[0-9+(@%:=A_J-]`` with every detector on. Every built-in
value holds one of those characters (a number's digit, ``+`` or ``(``, an address's ``@``
or ``:``, a credential's ``=``, ``:`` or a character of its fixed prefix: ``sk-``,
``ghp_``, ``AKIA``, ``eyJ``), so text without them (most prose) costs one C-speed scan.
At each such character the regex, still in C, tests what the detectors need there:
the number detectors' own patterns (a card, an SSN, an IPv4 address, a phone number),
an IBAN's country and check digits, a provider's key prefix, an IPv6 address's colons,
a credential's name before ``=`` or ``:``. Only those hits reach Python, which looks
around them and validates; the search then goes on after what was found.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence

from ._addresses import EMAIL_REACH, find_email, find_ipv6
from ._detectors import (
    EMAIL,
    ENTITIES,
    IBAN,
    IPV6,
    SECRET,
    SPACES,
    Detector,
    Span,
    SpanFinder,
    find_custom,
)
from ._numbers import NUMBERS, SOURCES, check_number, find_iban, number_chains
from ._secrets import (
    BLOCK,
    BLOCK_BEGIN,
    BLOCK_MAX,
    KEY_BEFORE,
    KEY_ENDINGS,
    TOKEN,
    TOKEN_ANCHORS,
    TOKEN_MAX,
    URL_USERINFO,
    VALUE,
    VALUE_MAX,
    token_ok,
    value_ok,
)

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_TRAILING = frozenset(".,:;")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_ENTITY_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,40}\Z")
_ANCHOR_BEFORE = 24  # how far before a match its anchor can be (password = "...)

LOOKAHEAD = 3
"""How many characters after a match the detectors read to decide it."""

# Every number value holds six digits or more (or is an IPv4 address): a cheap test first.
_DIGITS_AHEAD = r"[+(]{0,2}\d(?:[" + SPACES + r"().\-/+]{0,3}\d){5}|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d"


def _branches(entities: frozenset[str]) -> list[tuple[str, str]]:
    """The prefilter's branches for the detectors of ``entities``: (the characters a branch
    starts at, the branch, which steps back onto that character with a lookbehind)."""
    branches = []
    numbers = [(group, SOURCES[group]) for entity, group, _, _ in NUMBERS if entity in entities]
    if numbers:
        # At a number's first character, unless a word, a number or a time ("10:24:") goes on
        # before it: run the detectors' own patterns from there (the first match names the group).
        either = "|".join(f"(?P<{group}>{source})" for group, source in numbers)
        start = r"(?<![A-Za-z0-9_.+\-/][\s\S])(?<![0-9]:[\s\S])(?<=(?=" + _DIGITS_AHEAD + r")[\s\S])"
        branches.append(("0123456789+(", start + r"(?<=(?=(?:" + either + r"))[\s\S])"))
    if IBAN in entities:
        # Two letters at a word's start, then the check digits (cheapest test first).
        iban = r"(?<=[A-Za-z]\d)(?=\d)(?<=[A-Za-z]{2}\d)(?<![A-Za-z0-9][A-Za-z]{2}\d)(?P<iban>)"
        branches.append(("0123456789", iban))
    if EMAIL in entities:
        branches += [("@", r"(?P<at>)"), ("%", r"(?=40)(?P<percent>)")]
    elif SECRET in entities:
        branches.append(("@", r"(?P<at>)"))  # scheme://user:password@host
    if IPV6 in entities:
        # An IPv6 address's first colon: "::", or six colons between hex groups.
        branches.append((":", r"(?=[0-9A-Fa-f]{0,4}:)(?=:|[0-9A-Fa-f:]{1,40}?::|(?:[0-9A-Fa-f]{1,4}:){5})(?P<colon>)"))
    if SECRET in entities:
        ends = "|".join(f"[{a}{a.upper()}][{b}{b.upper()}]" for a, b in KEY_ENDINGS)
        # "=" or ":" after a credential's name: its last two letters, then a quote or spaces.
        branches.append(
            (
                "=:",
                r"(?:(?<=(?:" + ends + r")[=:])|(?<=(?:" + ends + r")[\"' \t][=:])"
                r"|(?<=(?:" + ends + r")[\"'][ \t][=:])|(?<=[ \t][ \t][=:]))(?P<key>)",
            )
        )
        branches.append(("-", r"(?=----BEGIN )(?P<block>)"))
        # A provider's key prefix at a token's start, up to the character just read.
        by_last: dict[str, list[str]] = {}
        for behind, ahead in TOKEN_ANCHORS:
            if behind[-1].isdigit():  # on the numeric side, in a group of its own (a name is defined once)
                lookahead = f"(?={ahead})" if ahead else ""
                branches.append((behind[-1], r"(?<=(?<![A-Za-z0-9_\-])" + behind + ")" + lookahead + "(?P<ya>)"))
                continue
            lookahead = f"(?={ahead})" if ahead else ""
            by_last.setdefault(behind[-1], []).append(r"(?<=(?<![A-Za-z0-9_\-])" + behind + ")" + lookahead)
        either = "|".join(f"(?<={re.escape(ch)})(?:" + "|".join(anchors) + ")" for ch, anchors in by_last.items())
        branches.append(("".join(by_last), "(?:" + either + ")(?P<token>)"))
    return branches


def _char_class(chars: str) -> str:
    return "[" + "".join(re.escape(ch) for ch in sorted(set(chars))) + "]"


_cache: dict[frozenset[str], re.Pattern[str]] = {}
_lock = threading.Lock()


def prefilter(entities: frozenset[str]) -> re.Pattern[str] | None:
    """The one-pass regex for the built-in detectors of ``entities`` (compiled once per set)."""
    found = _cache.get(entities)
    if found is None and entities:
        branches = _branches(entities)
        # A digit right after a digit (most stops in numbers) fails the first test. Any other
        # stop steps back onto the character it read and picks its branches by that character:
        # a branch starts with its characters, so the engine skips the others without a test.
        dispatch = "|".join(f"{_char_class(chars)}(?:{branch})" for chars, branch in branches)
        first = _char_class("".join(chars for chars, _ in branches))
        found = re.compile(first + r"(?<![0-9][0-9])(?<=(?=(?:" + dispatch + r"))[\s\S])", re.ASCII)
        with _lock:
            _cache[entities] = found
    return found


prefilter(frozenset(ENTITIES))  # the default set, compiled at import


class Scanner:
    """Finds the PII spans of a text with the enabled built-in and custom detectors."""

    __slots__ = ("_custom", "_entities", "_numbers", "_prefilter", "_rank", "extra", "longest", "reach")

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
        self._numbers = number_chains(self._entities)
        self._prefilter = prefilter(self._entities)
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
        found.sort()  # by start (then end): tuples compare in C, no key function per span
        spans: list[Span] = []
        last_end = -1
        for span in found:
            if span[0] >= last_end:
                spans.append(span)
                last_end = span[1]
            elif span[0] == spans[-1][0] and (
                span[1] > spans[-1][1] or (span[1] == spans[-1][1] and rank[span[2]] < rank[spans[-1][2]])
            ):
                spans[-1] = span  # at one start, the longest wins, then the type ranked first
                last_end = span[1]
        return spans

    def _builtin(self, text: str, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> None:
        search = self._prefilter.search  # type: ignore[union-attr]
        numbers = self._numbers
        secrets = SECRET in self._entities
        emails = EMAIL in self._entities
        i = pos
        while True:
            m = search(text, i, end)
            if m is None:
                return
            at = m.start()
            kind = m.lastgroup
            chain = numbers.get(kind)  # type: ignore[arg-type]
            if chain is not None:
                i = check_number(text, m, chain, end, found, raw) or at + 1
            elif kind == "at":
                if secrets and _url_password(text, at, pos, found, raw):
                    i = at + 1  # user:password@host: the host is no email domain
                elif emails:
                    i = find_email(text, at, 1, pos, end, found, raw)
                else:
                    i = at + 1
            elif kind == "token" or kind == "ya":
                i = _token(text, at, pos, end, found, raw)
            elif kind == "iban":
                i = max(at + 1, find_iban(text, at - 2, end, found, raw))
            elif kind == "colon":
                nxt = find_ipv6(text, at, pos, end, found, raw)
                if secrets and nxt == at:
                    nxt = _assignment(text, at, pos, end, found, raw)
                i = max(nxt, at + 1)
            elif kind == "key":
                i = _assignment(text, at, pos, end, found, raw)
            elif kind == "percent":
                i = find_email(text, at, 3, pos, end, found, raw)
            else:
                i = _block(text, at, pos, end, found, raw)


def _block(text: str, at: int, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """A private-key block from its ``-----BEGIN ... PRIVATE KEY-----`` line at ``at``."""
    if BLOCK_BEGIN.match(text, at, end) is None:
        return at + 1
    m = BLOCK.match(text, at, min(end, at + BLOCK_MAX))
    if m is None:
        return at + 1
    if raw is not None:
        raw.append(m.span())
    if at >= pos:
        found.append((at, m.end(), SECRET))
    return m.end()


def _token(text: str, at: int, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """A provider's key whose prefix ends at ``at`` (``sk-``, ``ghp_``, ``eyJ``; ``AKIA`` starts there)."""
    start = at
    while start > 0 and text[start - 1] in _KEY_CHARS:  # back to the prefix's first letter
        start -= 1
    m = TOKEN.match(text, start, end)
    if m is None:
        return at + 1
    if raw is not None:
        raw.append(m.span())
    if start >= pos and token_ok(m.group()):
        found.append((start, m.end(), SECRET))
    return m.end()


def _assignment(text: str, at: int, pos: int, end: int, found: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """The value after ``password=``, ``"api_key": "...``, ``Authorization: Bearer ...``."""
    if not KEY_BEFORE(text, at):
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
