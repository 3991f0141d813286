"""Validators: pure functions on a candidate's characters. No regex compiled per call."""

from __future__ import annotations

import ipaddress

from ._tables import CALLING_CODES, CARD_RANGES, IBAN_LENGTHS

_PUNCTUATION = str.maketrans("", "", " \u00a0\u2007\u2009\u202f().-/+")


def digits_of(value: str) -> str:
    """The digits of a number written with spaces, dots, dashes, slashes, parentheses or +."""
    return value.translate(_PUNCTUATION)


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check digit test."""
    total = 0
    for index, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if index % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(digits: str) -> bool:
    """A real issuer prefix, a length that issuer uses, and a valid Luhn digit."""
    n = len(digits)
    if not 12 <= n <= 19:
        return False
    for low, high, lengths in CARD_RANGES:
        prefix = digits[: len(low)]
        if low <= prefix <= high and n in lengths:
            return luhn_ok(digits)
    return False


def iban_ok(compact: str) -> bool:
    """Registry country, that country's length, and ISO 7064 mod 97 == 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    remainder = 0
    for ch in rearranged:
        remainder = (remainder * (100 if ch >= "A" else 10) + int(ch, 36)) % 97
    return remainder == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN ranges: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"


def nanp_ok(digits: str) -> bool:
    """North American numbers: NPA and NXX start with 2-9 (after an optional 1)."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] >= "2" and digits[3] >= "2"


def calling_code_ok(digits: str) -> bool:
    """Whether ``digits`` (after the +) starts with an assigned country calling code."""
    return any(digits[:n] in CALLING_CODES for n in (1, 2, 3))


def ipv4_ok(value: str) -> bool:
    """Four decimal octets, each 0-255, none with a leading zero (as ``ipaddress`` reads them)."""
    parts = value.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 and (len(p) == 1 or p[0] != "0") for p in parts)


def ipv6_ok(value: str) -> bool:
    """A valid IPv6 address that holds a decimal digit (so ``dead::beef`` and ``a::b`` in code pass)."""
    if not any("0" <= ch <= "9" for ch in value):
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True
