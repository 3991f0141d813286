"""Validators: pure functions on a candidate's characters. No regex compiled per call."""

from __future__ import annotations

import re

from ._tables import CARD_RANGES, IBAN_LENGTHS

_PUNCTUATION = str.maketrans("", "", " \u00a0\u2007\u2009\u202f().-/+")


def digits_of(value: str) -> str:
    """The digits of a number written with spaces, dots, dashes, slashes, parentheses or +."""
    return value.translate(_PUNCTUATION)


_DOUBLED = str.maketrans("0123456789", "0246813579")  # a digit doubled, its two digits summed


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check digit test."""
    # Every other digit from the right doubled (its digits summed), then all added up: the
    # bytes' sum counts the digits in C, 48 ("0") too much for each.
    total = sum(digits[-1::-2].encode()) + sum(digits[-2::-2].translate(_DOUBLED).encode()) - 48 * len(digits)
    return total % 10 == 0


def _issuers() -> dict[str, frozenset[int]]:
    """Every issuer prefix (1 to 4 digits) of :data:`CARD_RANGES`, with the lengths its cards have."""
    found: dict[str, set[int]] = {}
    for low, high, lengths in CARD_RANGES:
        for n in range(int(low), int(high) + 1):
            found.setdefault(str(n).zfill(len(low)), set()).update(lengths)
    return {prefix: frozenset(lengths) for prefix, lengths in found.items()}


_ISSUERS = _issuers()


def card_ok(digits: str) -> bool:
    """A real issuer prefix, a length that issuer uses, and a valid Luhn digit."""
    n = len(digits)
    if not 12 <= n <= 19:
        return False
    issuers = _ISSUERS
    for size in (1, 2, 3, 4):
        lengths = issuers.get(digits[:size])
        if lengths is not None and n in lengths:
            return luhn_ok(digits)
    return False


_IBAN_DIGITS = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})  # A=10 ... Z=35


def iban_ok(compact: str) -> bool:
    """Registry country, that country's length, and ISO 7064 mod 97 == 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum() or not compact.isascii():
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_DIGITS)) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN ranges: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"


_OCTETS = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.|\Z)){4}\Z", re.ASCII)
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{1,4}\Z", re.ASCII)
_DIGIT = re.compile(r"[0-9]")


def ipv6_ok(value: str) -> bool:
    """A valid IPv6 address (RFC 4291 text forms) that holds a decimal digit, so that ``dead::beef``
    and ``a::b`` in code pass. The same answers as ``ipaddress.IPv6Address``, without its cost."""
    if _DIGIT.search(value) is None:
        return False
    head, double, tail = value.partition("::")
    if "::" in tail or tail.startswith(":") or head.startswith(":"):
        return False
    parts = (head.split(":") if head else []) + (tail.split(":") if tail else [])
    count = len(parts)
    if parts and "." in parts[-1]:
        if _OCTETS.match(parts[-1]) is None:
            return False
        parts.pop()
        count += 1
    if not all(_HEX_GROUP.match(p) for p in parts):
        return False
    return count <= 7 if double else count == 8
