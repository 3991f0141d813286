"""Numbers: payment cards, US SSNs, IPv4 addresses, phone numbers, IBANs.

Each number detector is a regex *source* (:data:`CARD_RE`, :data:`SSN_RE`, :data:`IPV4_RE`,
:data:`PHONE_RE`) that the scanner folds into its one-pass prefilter, so that finding a
candidate costs no Python at all; and a validator that runs on what it found: Luhn and
issuer ranges, SSN ranges, octets, libphonenumber's metadata and the words before the
number. Where the candidate found first fails its validator, :func:`check_number` tries
the other detectors at the same start. An IBAN starts with two letters and is found
from its check digits (:func:`find_iban`).

The sources use named groups only (no back references: the prefilter runs them inside
a lookbehind), and their group names are unique across all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ._backward import Before
from ._checks import card_ok, digits_of, iban_ok, ssn_ok
from ._detectors import CREDIT_CARD, IBAN, IPV4, PHONE, SPACES, SSN, Span
from ._phones import possible_international, valid_international, valid_nanp, valid_national
from ._tables import IBAN_LENGTHS

_S = "[" + SPACES + "]"
_SEP = "[" + SPACES + r".\-/]"

_DATE = r"(?:\d{4}[.\-/]\d{1,2}[.\-/]\d{1,2}|\d{1,2}[.\-/]\d{1,2}[.\-/](?:\d{4}|\d{2}))"
_DECIMAL = r"[1-9]\d{0,2}\.\d{4,}"  # a measurement or a coordinate (51.582510), not a phone number
_NOT_AFTER = r"(?![\w@]|-\w|" + _SEP + r"?\d|[.,]\w)"  # nor the middle of a longer run of digit groups
# A value grouped by dashes, or not grouped, may be followed by another number after a
# space ("card 4984-1537-7602-0776 1970-02-01", "SSN 123-45-6789 10.0.0.1"): it ends there.
_END = r"(?![\w@]|-\w|[.\-/]?\d|[.,]\w)"
_NOT_BEFORE = r"(?<![\w.+\-/@#])(?!(?<=\d" + _S + r")[\d(])"  # a digit group right after another is no start

# One alternative per separator: a back reference cannot run inside the prefilter's lookbehind.
CARD_RE = (
    _NOT_BEFORE
    + r"(?=(?:\d["
    + SPACES
    + r"\-]?){11}\d)"  # twelve digits or more: a cheap test first
    + r"\d{4}(?:"
    + "|".join(sep + r"\d{2,6}(?:" + sep + r"\d{1,6}){1,4}" + _NOT_AFTER for sep in SPACES)
    + r"|-\d{2,6}(?:-\d{1,6}){1,4}"
    + _END
    + r"|\d{8,15}"
    + _END
    + ")"
)
"""A payment card number: 12 to 19 digits, compact or grouped by one kind of separator."""

SSN_RE = (
    _NOT_BEFORE
    + r"(?:\d{3}-\d{2}-\d{4}"
    + _END
    + "|"
    + "|".join(r"\d{3}" + sep + r"\d{2}" + sep + r"\d{4}" + _NOT_AFTER for sep in SPACES)
    + r"|(?P<ssn_run>\d{9})"
    + _END
    + ")"
)
"""A US SSN: ``123-45-6789``, ``123 45 6789``, or nine digits in a row (then only after words that say so)."""

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_RE = r"(?<![\w.\-+/])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![\w@\-]|\.\d)"
"""An IPv4 address in dotted decimal: four octets of 0 to 255, none with a leading zero."""

# Each form is an atomic group, (?>...): once it has taken the longest number it can, the
# engine never tries to split the digit groups another way when what follows rules it out
# (that backtracking cost hundreds of microseconds on "+44 20 7946 0958x").
PHONE_RE = (
    r"(?<![\w.+\-/@#$€£¥])(?:(?<!\d" + _S + r")|(?=\+))(?:"
    r"(?P<intl>(?>(?:\(\+|\+|00|011)" + _S + r"?\d{1,3}\)?(?:(?:" + _SEP + r"|(?<=\)))?\(?\d{1,8}\)?){1,7}))"
    r"|(?P<nanp>(?>(?:1" + _SEP + r"?)?(?:\(\d{3}\)" + _SEP + r"?|\d{3}" + _SEP + r")\d{3}" + _SEP + r"\d{4}))"
    r"|(?!(?:" + _DATE + r"|" + _DECIMAL + r")(?!" + _SEP + r"?\d))"
    r"(?P<nat>(?>\(?\d{1,5}\)?(?:(?:" + _SEP + r"|(?<=\)))\(?\d{1,8}\)?){1,6}|\d{6,13}))"
    r")" + _NOT_AFTER
)
"""A phone number: international (``+``, ``00``, ``011``), North American, or national."""

# Words that say the next number is (or is not) a phone number, an SSN, or a version:
# each asks about the few characters before a candidate, read backwards (see ``_backward``).
_PHONE_CONTEXT = Before(
    r"(?i)(?:my number|meine? nummer|mon num[ée]ro|mi n[úu]mero|t[ée]l|phone|call|cell|mobile|mob|fax|whats\s?app|sms|text(?: me)?|ring|reach|contact|dial|hotline"  # noqa: E501
    r"|telefon|handy|t[ée]l[ée]phone|portable|tel[ée]fono|m[óo]vil|celular|telefone|contato|numer|n[°º]"
    r"|電話|携帯|手机|電話番号|お問い合わせ|телефон|тел|फ़ोन|फोन|☎|📞|📱)[^\d\n]{0,16}",
    40,
)
_NOT_PHONE_CONTEXT = Before(
    r"(?i)(?:order|invoice|\binv|ticket|tracking|track|\bref|reference|account|acct|\bcase|\bid|sku|\bpart|serial|"
    r"version|\bver|build|isbn|issn|\bean|gtin|\bupc|\bdoi|\bpo|receipt|transaction|txn|batch|\blot|item|\bcode|\bzip"
    r"|postcode|\bpin)"
    r"[\W_]{0,4}(?:number|num|nr|no|#)?[\W_]{0,3}",
    24,
)
_SSN_CONTEXT = Before(r"(?i)(?:ssn|ss#|social security(?: number| no\.?)?|sozialversicherungsnummer)\W{0,8}", 40)
_VERSION_BEFORE = Before(
    r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\boid|\bfirmware|\bfw|\bsection|\bsec\.?|§|\bclause"
    r"|\bchapter|\bch\.?|\bstep|\brule|\bart\.?|\barticle|\bpara(?:graph)?|\bfig(?:ure)?\.?|\btable|==|>=|<=|~=)"
    r"[ :=#]{0,3}",
    16,
)
# An area code and a dashed line number (Brazil's "11 91234-5678").
_AREA_AND_LINE = re.compile(r"\(?\d{2}\)?[" + SPACES + r"]9?\d{4}-\d{4}\Z")
# Dates, and the SSN's own shape: not phone numbers when written without a country code.
_NOT_PHONE_SHAPE = re.compile(r"(?:" + _DATE + r"|\d{3}-\d{2}-\d{4})\Z", re.ASCII)


def _card(text: str, start: int, end: int, m: re.Match[str]) -> bool:
    return card_ok(digits_of(text[start:end])) and not _NOT_PHONE_CONTEXT(text, start)


def _ssn(text: str, start: int, end: int, m: re.Match[str]) -> bool:
    digits = digits_of(text[start:end])
    if not ssn_ok(digits[:3], digits[3:5], digits[5:]):
        return False
    return m.start("ssn_run") == -1 or _SSN_CONTEXT(text, start)  # nine digits in a row: only where words say so


def _ipv4(text: str, start: int, end: int, m: re.Match[str]) -> bool:
    return not _VERSION_BEFORE(text, start)


def _phone(text: str, start: int, end: int, m: re.Match[str]) -> bool:
    value = text[start:end]
    if value.count("(") != value.count(")"):
        return False
    if m.start("intl") != -1:
        return _international(text, start, value)
    digits = digits_of(value)
    if m.start("nanp") != -1 and valid_nanp(digits):
        return True
    if _NOT_PHONE_SHAPE.match(value) or ("." in value and _VERSION_BEFORE(text, start)):
        return False
    # The nearest words decide: "call</a> EAN 4207509619238" is an article number.
    if _NOT_PHONE_CONTEXT(text, start):
        return False
    if _PHONE_CONTEXT(text, start):
        # Words say it is a phone number: a national number's length will do, valid or not
        # (libphonenumber knows 0117 496 0886 as fiction's, and Faker's numbers as unassigned).
        return 7 <= len(digits) <= 13 or valid_national(digits)
    if not valid_national(digits):
        return False
    # No word says so: a phone's shape then: a trunk prefix or an area code in parentheses, grouped.
    if _AREA_AND_LINE.match(value):
        return True
    return len(digits) < len(value) and len(digits) >= 9 and (digits[0] == "0" or value[0] == "(")


def _international(text: str, start: int, value: str) -> bool:
    """A number written with its country code, after ``+`` or an international call prefix."""
    if value[0] == "+" or value.startswith("(+"):
        # A "+", a country code and a length that country's numbers have: a phone number, even
        # where libphonenumber knows its range as unassigned (or, like 01632 960, as fiction's).
        return possible_international(digits_of(value.lstrip("(+").replace("(0)", "", 1)))
    digits = digits_of((value[3:] if value.startswith("011") else value[2:]).replace("(0)", "", 1))
    # After 00 or 011 an order or article number can start too: the words before decide.
    if _NOT_PHONE_CONTEXT(text, start):
        return False
    if _PHONE_CONTEXT(text, start):
        # A phone number in any case; perhaps a national one that starts with 00 or 011.
        return possible_international(digits) or 7 <= len(digits_of(value)) <= 13
    return valid_international(digits)


Check = Callable[[str, int, int, re.Match[str]], bool]
NumberDetector = tuple[str, str, re.Pattern[str], Check]
"""An entity, its group name in the prefilter, its own compiled regex, and its validator."""

SOURCES: dict[str, str] = {"card": CARD_RE, "ssn": SSN_RE, "ipv4": IPV4_RE, "phone": PHONE_RE}
"""The regex source of each number detector, by group name: the scanner folds them into its prefilter."""

NUMBERS: tuple[NumberDetector, ...] = tuple(
    (entity, group, re.compile(SOURCES[group], re.ASCII), check)
    for entity, group, check in (
        (CREDIT_CARD, "card", _card),
        (SSN, "ssn", _ssn),
        (IPV4, "ipv4", _ipv4),
        (PHONE, "phone", _phone),
    )
)
"""The number detectors in the order that breaks ties."""


def number_chains(entities: frozenset[str]) -> dict[str, tuple[NumberDetector, ...]]:
    """For each enabled number detector, by group name: itself, then the enabled ones after it."""
    enabled = [d for d in NUMBERS if d[0] in entities]
    return {d[1]: tuple(enabled[i:]) for i, d in enumerate(enabled)}


def check_number(
    text: str,
    m: re.Match[str],
    chain: tuple[NumberDetector, ...],
    endpos: int,
    out: list[Span],
    raw: list[tuple[int, int]] | None,
) -> int:
    """Validate the candidate the prefilter found for ``chain[0]``; if it fails, try the detectors
    after it at the same start. Returns the end of what was found, or 0."""
    entity, group, _, check = chain[0]
    start, end = m.span(group)
    if raw is not None:
        raw.append((start, end))
    if check(text, start, end, m):
        out.append((start, end, entity))
        return end
    for entity, _, pattern, check in chain[1:]:
        match = pattern.match(text, start, endpos)
        if match is None:
            continue
        end = match.end()
        if raw is not None:
            raw.append((start, end))
        if check(text, start, end, match):
            out.append((start, end, entity))
            return end
    return 0


def _iban_pattern(length: int) -> re.Pattern[str]:
    # Characters after the country code and check digits, each after an optional separator:
    # a dash, or a space where the stream's rule lets one join (see ``space_joins``).
    sep = r"(?:-|(?<=[0-9A-Z])" + _S + r"(?=[0-9A-Z])|(?<=[0-9])" + _S + r"(?=[a-z])|(?<=[a-z])" + _S + r"(?=[0-9]))"
    return re.compile(r"[A-Za-z]{2}\d\d(?:" + sep + r"?[A-Za-z0-9]){0," + str(length - 4) + "}", re.ASCII)


_IBAN_BY_LENGTH = {n: _iban_pattern(n) for n in set(IBAN_LENGTHS.values())}
_IBAN_SEPARATORS = str.maketrans("", "", SPACES + "-")


def find_iban(text: str, start: int, endpos: int, out: list[Span], raw: list[tuple[int, int]] | None) -> int:
    """An IBAN starting at ``start`` (two letters), in any case and any grouping. Returns where it ends."""
    expected = IBAN_LENGTHS.get(text[start : start + 2].upper())
    if expected is None:
        return start
    m = _IBAN_BY_LENGTH[expected].match(text, start, endpos)
    if m is None:
        return start
    end = m.end()
    if raw is not None:
        raw.append((start, end))
    compact = m.group().translate(_IBAN_SEPARATORS)
    if len(compact) != expected or (end < len(text) and text[end].isalnum()):
        return start
    if iban_ok(compact.upper()):
        out.append((start, end, IBAN))
        return end
    return start
