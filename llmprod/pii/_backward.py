"""Context before a position, read backwards.

The detectors ask what the text says just before a candidate ("Tel:", "version",
a credential's name). Written as ``pattern + \\Z`` and searched over a window, such a
question makes the regex engine try every start in the window: tens of microseconds
each. :class:`Before` compiles the pattern reversed instead and matches it once,
anchored, on the window read backwards (``text[start - 1 : lo - 1 : -1]``): the same
answer in about a microsecond.

:func:`reverse` handles the subset of regex syntax these patterns use: literals,
escapes, classes, ``.``, ``\\b``, non-capturing groups (``(?:`` and scoped flags like
``(?i:``) with ``|``, and greedy or lazy quantifiers. Anything else (lookarounds,
anchors, capturing groups, back references) raises ``ValueError``, at import time.
"""

from __future__ import annotations

import re

_QUANTIFIER = re.compile(r"(?:[?*+]|\{\d*(?:,\d*)?\})\??")
_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _atoms(pattern: str, i: int) -> tuple[list[list[str]], int]:
    """The alternatives of ``pattern`` from ``i`` to its closing ``)`` (or its end), each a list of atoms."""
    branches: list[list[str]] = [[]]
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == ")":
            return branches, i
        if ch == "|":
            branches.append([])
            i += 1
            continue
        if ch == "\\":
            esc = pattern[i + 1]
            if esc.isdigit() or esc in "AZzGN":
                raise ValueError(f"cannot reverse {pattern[i : i + 2]!r}")
            width = {"x": 4, "u": 6, "U": 10}.get(esc, 2)
            atom, i = pattern[i : i + width], i + width
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            atom, i = pattern[i : j + 1], j + 1
        elif ch == "(":
            head = re.match(r"\(\?(?:[aiLmsux]*(?:-[imsx]+)?):", pattern[i:])
            if head is None:
                raise ValueError(f"cannot reverse the group at {pattern[i : i + 4]!r}")
            inner, j = _atoms(pattern, i + head.end())
            atom, i = head.group() + "|".join("".join(reversed(b)) for b in inner) + ")", j + 1
        elif ch in "^$":
            raise ValueError(f"cannot reverse the anchor {ch!r}")
        else:
            atom, i = ch, i + 1
        q = _QUANTIFIER.match(pattern, i)
        if q is not None:
            atom += q.group()
            i = q.end()
        branches[-1].append(atom)
    return branches, i


def reverse(pattern: str) -> str:
    """A regex that matches the reverse of every string ``pattern`` matches."""
    flags = _FLAGS.match(pattern)
    head = flags.group() if flags else ""
    branches, end = _atoms(pattern, len(head))
    if end != len(pattern):
        raise ValueError(f"unbalanced ')' in {pattern!r}")
    return head + "|".join("".join(reversed(b)) for b in branches)


def back(text: str, start: int, width: int) -> str:
    """``text[start - width : start]`` read backwards (one slice, no copy of the text)."""
    lo = start - width
    if lo > 0:
        return text[start - 1 : lo - 1 : -1]
    return text[start - 1 :: -1] if start > 0 else ""


class Before:
    """Whether the ``width`` characters before a position end with a match of ``pattern``.

    ``boundary`` is a regex (a lookahead, read backwards) for what must precede the
    match: ``(?![A-Za-z0-9])`` says "not right after a letter or digit".
    """

    __slots__ = ("_match", "boundary", "flags", "pattern", "width")

    def __init__(self, pattern: str, width: int, flags: int = 0, *, boundary: str = "") -> None:
        head = _FLAGS.match(pattern)
        lead = head.group() if head else ""
        self._match = re.compile(lead + "(?:" + reverse(pattern[len(lead) :]) + ")" + boundary, flags).match
        self.pattern = pattern
        self.width = width
        self.flags = flags
        self.boundary = boundary

    def __call__(self, text: str, start: int) -> bool:
        lo = start - self.width  # back(), inlined: this runs for most candidates
        if lo > 0:
            return self._match(text[start - 1 : lo - 1 : -1]) is not None
        return self._match(text[start - 1 :: -1] if start > 0 else "") is not None
