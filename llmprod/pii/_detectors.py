"""The built-in detectors and the custom :class:`Detector`.

Every pattern is compiled once, here, at import. A match of any detector never
contains a *break*: a character outside ``[\\w.%+-@:/()]`` and the space, or a space
that does not sit between two group characters (digit or capital letter, ``)``
before, ``(`` or ``+`` after). The streaming redactor relies on that to know where
a value can no longer grow (see ``_stream.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ._checks import (
    calling_code_ok,
    card_ok,
    digits_of,
    iban_ok,
    ipv4_ok,
    ipv6_ok,
    nanp_ok,
    ssn_ok,
)
from ._tables import IBAN_LENGTHS

EMAIL: Final = "EMAIL"
PHONE: Final = "PHONE"
CREDIT_CARD: Final = "CREDIT_CARD"
SSN: Final = "SSN"
IPV4: Final = "IPV4"
IPV6: Final = "IPV6"
IBAN: Final = "IBAN"

ENTITIES: Final[tuple[str, ...]] = (EMAIL, IBAN, CREDIT_CARD, SSN, IPV6, IPV4, PHONE)
"""Built-in entity types, in the order that breaks ties between overlapping matches."""

GROUP_LEFT: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ)")
GROUP_RIGHT: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ(+")
HARD: Final = re.compile(r"[^\w.%+\-@:/() ]")
"""A character that no match may contain."""

_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")

# Numbers: one cheap pass finds runs of number characters, the detectors run inside them.
_NUMBER_RUN = re.compile(r"[+(0-9][0-9 ().\-/+]{6,}")
_NOT_AFTER_NUMBER = r"(?![\w@]|[ .\-/+]?\d)"  # nor the middle of a longer run of digit groups
_NOT_BEFORE_NUMBER = r"(?<![\w.+\-/@])(?!(?<=\d )[\d(])"  # a digit group right after another is no start
_CARD = re.compile(
    _NOT_BEFORE_NUMBER
    + r"\d{4}(?:([ \-])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|([ \-])\d{6}\2\d{4,5}|\d{8,15})"
    + _NOT_AFTER_NUMBER,
    re.ASCII,
)
_SSN = re.compile(_NOT_BEFORE_NUMBER + r"(\d{3})([\- ])(\d{2})\2(\d{4})" + _NOT_AFTER_NUMBER, re.ASCII)
_IPV4 = re.compile(r"(?<![\w.\-+@])\d{1,3}(?:\.\d{1,3}){3}(?![\w@\-]|\.\d)", re.ASCII)
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\boid|\bfirmware|\bfw)[ :=#]{0,3}\Z", re.ASCII
)
_PHONE = re.compile(
    _NOT_BEFORE_NUMBER + r"(?<!\))(?:"
    r"(?P<intl>\+\d{1,3}(?:(?:[ .\-]|(?<=\)))\(?\d{1,8}\)?){1,6}|\+\d{8,15})"
    r"|(?P<nanp>(?:1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4})"
    r"|(?P<br>\(\d{2}\) ?9?\d{4}-\d{4}|\d{2} 9\d{4}-\d{4})"
    r"|(?P<trunk>\(?0\d{1,4}\)?(?:(?:[ ./\-]|(?<=\)))\d{2,8}){1,4})"
    r"|(?P<in>[6-9]\d{4}[ \-]\d{5})"
    r")" + _NOT_AFTER_NUMBER,
    re.ASCII,
)
# IBAN: compact, or printed in groups of four.
_IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d\d(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])",
    re.ASCII,
)
# Email: found from each "@": the local part before it, the domain after it.
_LOCAL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}\Z", re.ASCII)
_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-]|\.[A-Za-z0-9])", re.ASCII
)
# IPv6: found from each colon pair, matched from the start of its hex run.
_COLON_PAIR = re.compile(r":[0-9A-Fa-f]{0,4}:", re.ASCII)
_HEX_RUN_BEFORE = re.compile(r"[0-9A-Fa-f:.]{0,48}\Z", re.ASCII)
_IPV6 = re.compile(
    r"(?<![\w:.%])(?:[0-9A-Fa-f]{1,4}:|:(?=:))(?:[0-9A-Fa-f]{0,4}:){1,7}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)",
    re.ASCII,
)

EMAIL_REACH: Final = 64 + 1 + 255 + 2
"""How far past its start deciding one match may look (emails are the longest)."""

Span = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class Detector:
    """A custom detector: an entity ``name``, a regex ``pattern`` and an optional
    ``validator`` that gets the matched text and says whether it counts.

    ``name`` is upper case (it becomes ``[NAME]`` or ``<NAME_1>``). A match may not
    span a line break or punctuation other than ``.%+-@:/()``, and spaces only
    between digits or capitals (as in ``AB 12 34``); ``max_len`` bounds a match's
    length. Example::

        Detector("EMPLOYEE_ID", r"\\bEMP-\\d{6}\\b")
    """

    name: str
    pattern: str | re.Pattern[str]
    validator: Callable[[str], bool] | None = None
    max_len: int = 100
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from .._core.errors import ConfigError

        if not _NAME.match(self.name):
            raise ConfigError(f"must be upper case letters, digits and _, got {self.name!r}", path="detector.name")
        if self.name in ENTITIES:
            raise ConfigError(f"{self.name!r} is a built-in entity", path="detector.name")
        try:
            regex = self.pattern if isinstance(self.pattern, re.Pattern) else re.compile(self.pattern)
        except re.error as exc:
            raise ConfigError(f"invalid regex: {exc}", path=f"detector[{self.name}].pattern") from None
        if self.max_len < 1:
            raise ConfigError(f"must be >= 1, got {self.max_len!r}", path=f"detector[{self.name}].max_len")
        object.__setattr__(self, "regex", regex)


def joinable(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` holds no break (see the module docstring)."""
    if start >= end or HARD.search(text, start, end):
        return False
    i = text.find(" ", start, end)
    while i != -1:
        if i == start or i == end - 1 or text[i - 1] not in GROUP_LEFT or text[i + 1] not in GROUP_RIGHT:
            return False
        i = text.find(" ", i + 1, end)
    return True


def _card(text: str, m: re.Match[str]) -> bool:
    return card_ok(digits_of(m.group()))


def _ssn(text: str, m: re.Match[str]) -> bool:
    return ssn_ok(m.group(1), m.group(3), m.group(4))


def _ipv4(text: str, m: re.Match[str]) -> bool:
    start = m.start()
    return ipv4_ok(m.group()) and not _VERSION_BEFORE.search(text, max(0, start - 16), start)


def _phone(text: str, m: re.Match[str]) -> bool:
    value = m.group()
    if value.count("(") != value.count(")"):
        return False
    kind = m.lastgroup
    digits = digits_of(value)
    if kind == "intl":
        if "(0)" in value:
            digits = digits_of(value.replace("(0)", ""))
        return 8 <= len(digits) <= 15 and calling_code_ok(digits)
    if kind == "nanp":
        return nanp_ok(digits)
    if kind == "trunk":
        return 10 <= len(digits) <= 12 and digits[1] != "0"
    return True


_NUMBER_CHECKS: tuple[tuple[str, re.Pattern[str], Callable[[str, re.Match[str]], bool]], ...] = (
    (CREDIT_CARD, _CARD, _card),
    (SSN, _SSN, _ssn),
    (IPV4, _IPV4, _ipv4),
    (PHONE, _PHONE, _phone),
)


def find_numbers(
    text: str, pos: int, endpos: int, entities: frozenset[str], out: list[Span], raw: list[tuple[int, int]] | None
) -> None:
    checks = [c for c in _NUMBER_CHECKS if c[0] in entities]
    for run in _NUMBER_RUN.finditer(text, pos, endpos):
        start = run.start()
        stop = min(endpos, run.end() + 2)  # two more characters: the lookaheads see what follows
        for entity, pattern, check in checks:
            for m in pattern.finditer(text, start, stop):
                if raw is not None:
                    raw.append(m.span())
                if check(text, m):
                    out.append((m.start(), m.end(), entity))


def find_ibans(text: str, pos: int, endpos: int, out: list[Span], raw: list[tuple[int, int]] | None) -> None:
    for m in _IBAN.finditer(text, pos, endpos):
        if raw is not None:
            raw.append(m.span())
        value = m.group()
        compact = value.replace(" ", "")
        expected = IBAN_LENGTHS.get(compact[:2], 0)
        if expected and expected < len(compact) and " " in value:
            # Printed in groups: the next word may have been taken for one more group.
            cut = _printed_end(value, expected)
            if cut is not None:
                value, compact = value[:cut], compact[:expected]
        if iban_ok(compact):
            out.append((m.start(), m.start() + len(value), IBAN))


def _printed_end(value: str, chars: int) -> int | None:
    """Where ``chars`` characters of a grouped IBAN end, if that is a group's end."""
    seen = 0
    for i, ch in enumerate(value):
        if ch != " ":
            seen += 1
            if seen == chars:
                return i + 1 if i + 1 == len(value) or value[i + 1] == " " else None
    return None


def find_emails(text: str, pos: int, endpos: int, out: list[Span], raw: list[tuple[int, int]] | None) -> None:
    at = text.find("@", pos, endpos)
    while at != -1:
        local = _LOCAL.search(text, max(0, at - 64), at)
        if local is not None:
            start = local.start()
            while start < at and text[start] == ".":
                start += 1
            domain = _DOMAIN.match(text, at + 1, endpos)
            if domain is not None and start < at and start >= pos:
                if raw is not None:
                    raw.append((start, domain.end()))
                out.append((start, domain.end(), EMAIL))
        at = text.find("@", at + 1, endpos)


def find_ipv6(text: str, pos: int, endpos: int, out: list[Span], raw: list[tuple[int, int]] | None) -> None:
    tried = -1
    for pair in _COLON_PAIR.finditer(text, pos, endpos):
        hit = pair.start()
        before = _HEX_RUN_BEFORE.search(text, max(0, hit - 48), hit)
        start = before.start() if before is not None else hit
        if start == tried or start < pos:
            continue
        tried = start
        m = _IPV6.match(text, start, endpos)
        if m is None:
            continue
        if raw is not None:
            raw.append(m.span())
        if ipv6_ok(m.group()):
            out.append((m.start(), m.end(), IPV6))


def find_custom(
    text: str, pos: int, endpos: int, detector: Detector, out: list[Span], raw: list[tuple[int, int]] | None
) -> None:
    for m in detector.regex.finditer(text, pos, endpos):
        start, end = m.span()
        if raw is not None:
            raw.append((start, end))
        if end - start > detector.max_len or not joinable(text, start, end):
            continue
        if detector.validator is None or detector.validator(m.group()):
            out.append((start, end, detector.name))
