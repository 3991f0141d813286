"""Entity names, the custom :class:`Detector`, and the one rule every match keeps.

A match of any single-line detector never contains a *break*: a character outside
``[\\w.%+\\-@:/()=~]`` and the spaces, or a space that does not join two groups
(see :func:`space_joins`: digits and capitals, a digit and a small letter). The stream
redactor relies on it to know where a value can no longer grow (see ``_stream``).
Two secret forms span breaks and declare it: a private-key block, and a quoted value
after a credential's name; the stream holds them back until they close or reach their
maximum length.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

EMAIL: Final = "EMAIL"
PHONE: Final = "PHONE"
CREDIT_CARD: Final = "CREDIT_CARD"
SSN: Final = "SSN"
IPV4: Final = "IPV4"
IPV6: Final = "IPV6"
IBAN: Final = "IBAN"
SECRET: Final = "SECRET"

ENTITIES: Final[tuple[str, ...]] = (SECRET, EMAIL, IBAN, CREDIT_CARD, SSN, IPV6, IPV4, PHONE)
"""Built-in entity types, in the order that breaks ties between overlapping matches."""

SPACES: Final = " \u00a0\u2007\u2009\u202f"
"""The space, no-break space, figure space, thin space and narrow no-break space: numbers are grouped with any."""
GROUP_LEFT: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ)")
GROUP_RIGHT: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ(+")
_DIGITS: Final = frozenset("0123456789")
_SMALL: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
HARD: Final = re.compile(r"[^\w.%+\-@:/()=~" + SPACES + "]")
"""A character that no single-line match may contain."""

_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")

Span = tuple[int, int, str]


@runtime_checkable
class SpanFinder(Protocol):
    """A detector that is not one regex (a model): it finds its spans itself.

    ``entities`` are the types it reports; ``unit_max`` is the longest stretch of
    text it decides on at once: the stream redactor holds back at most that much.
    """

    entities: tuple[str, ...]
    unit_max: int

    def find(self, text: str, pos: int, endpos: int, out: list[Span]) -> None:
        """Append the spans found in ``text[pos:endpos]`` to ``out``."""
        ...

    def units(self, text: str, pos: int, endpos: int) -> list[tuple[int, int]]:
        """The stretches of ``text[pos:endpos]`` it decides on one at a time, in order, each under
        ``unit_max`` characters. A unit's end may depend only on the text up to one character after it."""
        ...


@dataclass(frozen=True, slots=True)
class Detector:
    """A custom detector: an entity ``name``, a regex ``pattern`` and an optional
    ``validator`` that gets the matched text and says whether it counts.

    ``name`` is upper case (it becomes ``[NAME]`` or ``<NAME_1>``). A match may not
    span a line break or punctuation other than ``.%+-@:/()=~``, and spaces only
    between letters or digits (as in ``AB 12 34``); ``max_len`` bounds a match's
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


def space_joins(before: str, after: str) -> bool:
    """Whether a space between ``before`` and ``after`` may sit inside a match.

    Digits and capitals group (``+44 20 7946``, ``GB29 NWBK``), and a digit with a
    small letter (``gb29 nwbk 6016``, an IBAN written in small letters). Between two
    words of prose a space is always a break.
    """
    if before in GROUP_LEFT:
        return after in GROUP_RIGHT or (before in _DIGITS and after in _SMALL)
    return before in _SMALL and after in _DIGITS


def joinable(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` holds no break (see the module docstring)."""
    if start >= end or HARD.search(text, start, end):
        return False
    for i in range(start, end):
        if text[i] in SPACES and (i == start or i == end - 1 or not space_joins(text[i - 1], text[i + 1])):
            return False
    return True


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
