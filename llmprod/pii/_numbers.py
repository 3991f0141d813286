"""Numbers: payment cards, US SSNs, IPv4 addresses, phone numbers, IBANs.

The scanner calls :func:`find_numbers` once per *run* of number characters (digits,
spaces, ``.-/()+``) and :func:`find_iban` where two letters stand before a digit.
Each detector's regex runs inside that run only; validators (Luhn, mod 97, SSN
ranges, libphonenumber's metadata) run only on what the regexes found.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ._checks import card_ok, digits_of, iban_ok, ipv4_ok, ssn_ok
from ._detectors import CREDIT_CARD, IBAN, IPV4, PHONE, SPACES, SSN, Span, space_joins
from ._phones import valid_international, valid_nanp, valid_national
from ._tables import IBAN_LENGTHS

_S = "[" + SPACES + "]"
_SEP = "[" + SPACES + r".\-/]"
RUN = re.compile(r"(?:\(\+?|\+)?[0-9][0-9" + SPACES + r"().\-/+]*", re.ASCII)
"""A run of number characters, from its first digit (or the ``+``, ``(`` before it)."""

_NOT_AFTER = r"(?![\w@]|" + _SEP + r"?\d|[.,]\w)"  # nor the middle of a longer run of digit groups
_NOT_BEFORE = r"(?<![\w.+\-/@#])(?!(?<=\d" + _S + r")[\d(])"  # a digit group right after another is no start

_CARD = re.compile(
    _NOT_BEFORE + r"\d{4}(?:(" + _S + r"|-)\d{2,6}(?:\1\d{1,6}){1,4}|\d{8,15})" + _NOT_AFTER,
    re.ASCII,  # a number may touch letters of other scripts (お問い合わせは03-2443-7802)
)
_SSN = re.compile(
    _NOT_BEFORE + r"(\d{3})(-|" + _S + r")(\d{2})\2(\d{4})" + _NOT_AFTER + r"|" + _NOT_BEFORE + r"(\d{9})" + _NOT_AFTER,
    re.ASCII,
)
_IPV4 = re.compile(r"(?<![\w.\-+/])\d{1,3}(?:\.\d{1,3}){3}(?![\w@\-]|\.\d)", re.ASCII)
_PHONE = re.compile(
    r"(?<![\w.+\-/@#$€£¥])(?:(?<!\d" + _S + r")|(?=\+))(?:"
    r"(?P<intl>(?:\(\+|\+|00|011)" + _S + r"?\d{1,3}\)?(?:(?:" + _SEP + r"|(?<=\)))?\(?\d{1,8}\)?){1,7})"
    r"|(?P<nanp>(?:1" + _SEP + r"?)?(?:\(\d{3}\)" + _SEP + r"?|\d{3}" + _SEP + r")\d{3}" + _SEP + r"\d{4})"
    r"|(?P<nat>\(?\d{1,5}\)?(?:(?:" + _SEP + r"|(?<=\)))\(?\d{1,8}\)?){1,6}|\d{6,13})"
    r")" + _NOT_AFTER,
    re.ASCII,
)

# Words that say the next number is (or is not) a phone number, an SSN, or a version.
_PHONE_CONTEXT = re.compile(
    r"(?i)(?:my number|meine? nummer|mon num[ée]ro|mi n[úu]mero|t[ée]l|phone|call|cell|mobile|mob|fax|whats\s?app|sms|text(?: me)?|ring|reach|contact|dial|hotline"  # noqa: E501
    r"|telefon|handy|t[ée]l[ée]phone|portable|tel[ée]fono|m[óo]vil|celular|telefone|contato|numer|n[°º]"
    r"|電話|携帯|手机|電話番号|お問い合わせ|телефон|тел|फ़ोन|फोन|☎|📞|📱)[^\d\n]{0,16}\Z",
)
_NOT_PHONE_CONTEXT = re.compile(
    r"(?i)(?:order|invoice|inv|ticket|tracking|track|ref|reference|account|acct|case|id|no|sku|part|serial|"
    r"version|ver|build|isbn|issn|ean|gtin|upc|doi|po|receipt|transaction|txn|batch|lot|item|code|zip|postcode|pin)"
    r"[\W_]{0,4}(?:number|num|nr|no|#)?[\W_]{0,3}\Z",
)
_SSN_CONTEXT = re.compile(r"(?i)(?:ssn|ss#|social security(?: number| no\.?)?|sozialversicherungsnummer)\W{0,8}\Z")
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\boid|\bfirmware|\bfw|\bsection|\bsec\.?|§|\bclause"
    r"|\bchapter|\bch\.?|\bstep|\brule|\bart\.?|\barticle|\bpara(?:graph)?|\bfig(?:ure)?\.?|\btable|==|>=|<=|~=)"
    r"[ :=#]{0,3}\Z",
)
# An area code and a dashed line number (Brazil's "11 91234-5678").
_AREA_AND_LINE = re.compile(r"\(?\d{2}\)?[" + SPACES + r"]9?\d{4}-\d{4}\Z")
# Dates, and the SSN's own shape: not phone numbers when written without a country code.
_NOT_PHONE_SHAPE = re.compile(
    r"(?:\d{4}[.\-/]\d{1,2}[.\-/]\d{1,2}|\d{1,2}[.\-/]\d{1,2}[.\-/](?:\d{4}|\d{2})|\d{3}-\d{2}-\d{4})\Z", re.ASCII
)


_PHONE_WORDS = (
    "number", "nummer", "num", "tel", "tél", "phone", "call", "cell", "mob", "fax", "whats", "sms", "text",
    "ring", "reach", "contact", "dial", "hotline", "handy", "portable", "móvil", "movil", "celular", "contato",
    "n°", "nº", "電話", "携帯", "手机", "お問い合わせ", "телефон", "тел", "फ़ोन", "फोन", "☎", "📞", "📱",
)  # fmt: skip
_NOT_PHONE_WORDS = (
    "order", "inv", "ticket", "track", "ref", "account", "acct", "case", "id", "no", "sku", "part", "serial",
    "ver", "build", "isbn", "issn", "ean", "gtin", "upc", "doi", "po", "receipt", "transaction", "txn", "batch",
    "lot", "item", "code", "zip", "postcode", "pin",
)  # fmt: skip


def _says(text: str, start: int, width: int, words: tuple[str, ...], pattern: re.Pattern[str]) -> bool:
    """Whether the ``width`` characters before ``start`` end with ``pattern`` (a keyword check first)."""
    lo = max(0, start - width)
    window = text[lo:start].lower()
    return any(w in window for w in words) and pattern.search(text, lo, start) is not None


def _card(text: str, m: re.Match[str]) -> bool:
    start = m.start()
    return card_ok(digits_of(m.group())) and not _says(text, start, 24, _NOT_PHONE_WORDS, _NOT_PHONE_CONTEXT)


def _ssn(text: str, m: re.Match[str]) -> bool:
    if m.group(5) is not None:  # nine digits in a row: an SSN only where the text says so
        value = m.group(5)
        start = m.start()
        return ssn_ok(value[:3], value[3:5], value[5:]) and bool(_SSN_CONTEXT.search(text, max(0, start - 40), start))
    return ssn_ok(m.group(1), m.group(3), m.group(4))


def _ipv4(text: str, m: re.Match[str]) -> bool:
    start = m.start()
    return ipv4_ok(m.group()) and not _VERSION_BEFORE.search(text, max(0, start - 16), start)


def _phone(text: str, m: re.Match[str]) -> bool:
    value = m.group()
    if value.count("(") != value.count(")"):
        return False
    kind = m.lastgroup
    start = m.start()
    if kind == "intl":
        rest = value.lstrip("(+")
        if value.startswith("0"):  # the 00 or 011 prefix: an order or article number can start so too
            rest = value[3:] if value.startswith("011") else value[2:]
            if _says(text, start, 24, _NOT_PHONE_WORDS, _NOT_PHONE_CONTEXT):
                return False
        digits = digits_of(rest.replace("(0)", "", 1))
        return valid_international(digits)
    digits = digits_of(value)
    if kind == "nanp" and valid_nanp(digits):
        return True
    if _NOT_PHONE_SHAPE.match(value) or not valid_national(digits):
        return False
    if "." in value and _VERSION_BEFORE.search(text, max(0, start - 16), start):
        return False
    if _says(text, start, 40, _PHONE_WORDS, _PHONE_CONTEXT):
        return True
    if _says(text, start, 24, _NOT_PHONE_WORDS, _NOT_PHONE_CONTEXT):
        return False
    # No word says so: a phone's shape then: a trunk prefix or an area code in parentheses, grouped.
    grouped = len(digits) < len(value)
    if _AREA_AND_LINE.match(value):
        return True
    return grouped and len(digits) >= 9 and (digits[0] == "0" or value[0] == "(")


_NUMBER_CHECKS: tuple[tuple[str, re.Pattern[str], Callable[[str, re.Match[str]], bool]], ...] = (
    (CREDIT_CARD, _CARD, _card),
    (SSN, _SSN, _ssn),
    (IPV4, _IPV4, _ipv4),
    (PHONE, _PHONE, _phone),
)


def number_checks(entities: frozenset[str]) -> tuple[tuple[str, re.Pattern[str], Callable[..., bool]], ...]:
    return tuple(c for c in _NUMBER_CHECKS if c[0] in entities)


def find_numbers(
    text: str,
    start: int,
    stop: int,
    checks: tuple[tuple[str, re.Pattern[str], Callable[..., bool]], ...],
    out: list[Span],
    raw: list[tuple[int, int]] | None,
) -> None:
    """Every detector of ``checks`` inside the number run ``text[start:stop]``."""
    for entity, pattern, check in checks:
        for m in pattern.finditer(text, start, stop):
            if raw is not None:
                raw.append(m.span())
            if check(text, m):
                out.append((m.start(), m.end(), entity))


_IBAN_SEPARATORS = frozenset(SPACES + "-")


def find_iban(text: str, start: int, endpos: int, out: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """An IBAN starting at ``start`` (two letters), in any case and any grouping. Returns where it ends."""
    country = text[start : start + 2].upper()
    expected = IBAN_LENGTHS.get(country)
    if expected is None:
        return start
    chars: list[str] = []
    i = start
    limit = min(endpos, start + expected * 2)
    while i < limit and len(chars) < expected:
        ch = text[i]
        if ch.isascii() and ch.isalnum():
            chars.append(ch)
            i += 1
        elif (
            ch in _IBAN_SEPARATORS
            and chars
            and i + 1 < limit
            and text[i + 1].isascii()
            and text[i + 1].isalnum()
            and (ch == "-" or space_joins(text[i - 1], text[i + 1]))  # the stream's rule for spaces
        ):
            i += 1
        else:
            break
    if raw is not None:
        raw.append((start, i))
    if len(chars) != expected or (i < len(text) and text[i].isalnum()):
        return start
    compact = "".join(chars).upper()
    if iban_ok(compact):
        out.append((start, i, IBAN))
        return i
    return start
