"""Addresses: email (found from its ``@``, or a ``%40`` in a URL) and IPv6 (from its colons)."""

from __future__ import annotations

import re

from ._backward import Before, back
from ._checks import ipv6_ok
from ._detectors import EMAIL, IPV6, Span

EMAIL_REACH = 64 + 3 + 255
"""The longest email: a 64-character local part, ``@`` (or ``%40``) and a 255-character domain."""

# The local part, read backwards from the "@": letters of any script, digits and ._%+- (no leading dot).
_LOCAL_BACK = re.compile(r"[\w.%+\-]{1,65}")
_DOMAIN = re.compile(
    r"(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.){1,8}"
    # An ASCII top-level domain may run into text of another script (jo@example.co.jpです).
    r"(?:[A-Za-z]{2,24}(?![A-Za-z0-9\-]|\.\w)|xn--[a-z0-9\-]{2,59}(?![\w\-]|\.\w)|[^\W\d_]{2,24}(?![\w\-]|\.\w))",
)
# A message id (<id@host>) on a mail header line is no one's address.
_MESSAGE_ID = Before(
    r"(?i)(?:message-id|in-reply-to|references|content-id|x-message-id|resent-message-id)"
    r"[ \t]*:[ \t]*(?:<[^<>\s]*>[ \t]*)*<",
    320,
)


def find_email(
    text: str, at: int, sep: int, pos: int, endpos: int, out: list[Span], raw: list[tuple[int, int]] | None
) -> int:
    """The address around the ``@`` (``sep`` = 1) or ``%40`` (``sep`` = 3) at ``at``; returns where to go on."""
    local = _LOCAL_BACK.match(back(text, at, 65))
    if local is None or local.end() > 64:  # none, or longer than a local part can be
        return at + sep
    start = at - local.end()
    while start < at and text[start] == ".":
        start += 1
    if sep == 3 and text[start:at].endswith("%"):
        return at + sep
    domain = _DOMAIN.match(text, at + sep, endpos)
    if domain is None or start >= at or start < pos:
        return at + sep
    end = domain.end()
    if raw is not None:
        raw.append((start, end))
    if start and text[start - 1] == "<" and _MESSAGE_ID(text, start):
        return end
    out.append((start, end, EMAIL))
    return end


_COLON_PAIR = re.compile(r":[0-9A-Fa-f]{0,4}:", re.ASCII)
_HEX_RUN_BACK = re.compile(r"[0-9A-Fa-f:.]{0,48}", re.ASCII)
_IPV6 = re.compile(
    r"(?<![\w:.%])(?:[0-9A-Fa-f]{1,4}:|:(?=:))(?:[0-9A-Fa-f]{0,4}:){1,7}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)",
    re.ASCII,
)


def find_ipv6(text: str, colon: int, pos: int, endpos: int, out: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """An IPv6 address holding the colon pair at ``colon``, matched from the start of its hex run.

    Returns where the address ends, or ``colon`` when there is none.
    """
    if _COLON_PAIR.match(text, colon, endpos) is None:
        return colon
    start = colon - _HEX_RUN_BACK.match(back(text, colon, 48)).end()  # type: ignore[union-attr]
    m = _IPV6.match(text, start, endpos)
    if m is None or m.end() <= colon:
        return colon
    if raw is not None:
        raw.append(m.span())
    if m.start() >= pos and ipv6_ok(m.group()):
        out.append((m.start(), m.end(), IPV6))
    return m.end()
