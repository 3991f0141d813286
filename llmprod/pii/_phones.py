"""Phone number validity from Google's libphonenumber metadata (the ``phonenumbers`` package).

``phonenumbers.is_valid_number`` costs hundreds of microseconds a call; the same
decision, made on the metadata directly, costs about one. A number is *valid* when its
national part matches the pattern of one of the number types (fixed line, mobile, toll
free, ...) of a region. We compile those patterns once, grouped by the length of the
numbers they describe (each type lists its lengths), so that a check runs only the
patterns of its own length: one regex over thousands of alternatives would backtrack
through all of them on a long digit string (tens of microseconds).

A number written with its country code is checked against the regions of that code.
A number written in national form names no country, so it can only be checked against
every region: that tells a plausible number from an impossible one, not a phone number
from any other number, and the scanner asks for a phone context or a phone's shape too.
*Possible* (:func:`possible_international`) is the weaker test libphonenumber also
has: a country code and a length that country's numbers have.

``phonenumbers`` is imported on the first check, never by ``import llmprod``.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from typing import Any

_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)
Table = dict[int, re.Pattern[str]]
"""National number patterns by the length of the numbers they match."""

_lock = threading.Lock()
_by_code: dict[str, Table] = {}
_national: list[Table] = []  # [with trunk prefix "0" stripped, any region's national number]
_lengths: dict[str, frozenset[int]] = {}


def _library() -> Any:
    import phonenumbers  # a core dependency, imported here so that `import llmprod` stays fast

    return phonenumbers


def _metadata(lib: Any, code: int, region: str) -> Any:
    if region == "001":
        return lib.PhoneMetadata.metadata_for_nongeo_region(code)
    return lib.PhoneMetadata.metadata_for_region(region)


def _add(patterns: defaultdict[int, set[str]], metadata: Any) -> None:
    general = metadata.general_desc.possible_length if metadata.general_desc is not None else ()
    for kind in _TYPES:
        desc = getattr(metadata, kind, None)
        if desc is None or not desc.national_number_pattern:
            continue
        for length in desc.possible_length or general:
            if length > 0:
                patterns[length].add(desc.national_number_pattern)


def _compile(patterns: defaultdict[int, set[str]]) -> Table:
    return {n: re.compile("(?:" + "|".join(sorted(found)) + r")\Z") for n, found in patterns.items()}


def _for_code(code: str) -> Table:
    found = _by_code.get(code)
    if found is not None:
        return found
    lib = _library()
    patterns: defaultdict[int, set[str]] = defaultdict(set)
    number = int(code)
    for region in lib.COUNTRY_CODE_TO_REGION_CODE.get(number, ()):
        metadata = _metadata(lib, number, region)
        if metadata is not None:
            _add(patterns, metadata)
    table = _compile(patterns)
    with _lock:
        _by_code[code] = table
    return table


def _matches(table: Table, digits: str, start: int = 0) -> bool:
    pattern = table.get(len(digits) - start)
    return pattern is not None and pattern.match(digits, start) is not None


def valid_international(digits: str) -> bool:
    """Whether ``digits`` (what follows ``+`` or the ``00`` prefix) is a valid number of some country."""
    if not 7 <= len(digits) <= 15 or digits[0] == "0" or not digits.isdigit():
        return False
    return any(_matches(_for_code(digits[:n]), digits, n) for n in (1, 2, 3))


def _possible_lengths(code: str) -> frozenset[int]:
    """The lengths a national number of country calling code ``code`` can have (none: no such code)."""
    found = _lengths.get(code)
    if found is not None:
        return found
    lib = _library()
    lengths: set[int] = set()
    number = int(code)
    for region in lib.COUNTRY_CODE_TO_REGION_CODE.get(number, ()):
        metadata = _metadata(lib, number, region)
        if metadata is not None and metadata.general_desc is not None:
            lengths.update(metadata.general_desc.possible_length)
    with _lock:
        _lengths[code] = found = frozenset(lengths)
    return found


def possible_international(digits: str) -> bool:
    """Whether ``digits`` (after ``+``) are a country calling code and a national number of a length
    that country uses: libphonenumber's *possible*, a weaker test than :func:`valid_international`."""
    if not 7 <= len(digits) <= 15 or digits[0] == "0" or not digits.isdigit():
        return False
    return any(len(digits) - n in _possible_lengths(digits[:n]) for n in (1, 2, 3))


def _national_tables() -> list[Table]:
    if _national:
        return _national
    lib = _library()
    trunk: defaultdict[int, set[str]] = defaultdict(set)
    every: defaultdict[int, set[str]] = defaultdict(set)
    for region in lib.SUPPORTED_REGIONS:
        metadata = lib.PhoneMetadata.metadata_for_region(region)
        _add(every, metadata)
        if metadata.national_prefix == "0":
            _add(trunk, metadata)
    tables = [_compile(trunk), _compile(every)]
    with _lock:
        if not _national:
            _national.extend(tables)
    return _national


def valid_national(digits: str) -> bool:
    """Whether ``digits``, written in national form, is a valid number in some region.

    A leading ``0`` is taken as the trunk prefix where a region has one; otherwise
    the digits must be a region's whole national number (Italy keeps its ``0``).
    """
    if not 6 <= len(digits) <= 13:
        return False
    trunk, every = _national_tables()
    if digits[0] == "0" and _matches(trunk, digits, 1):
        return True
    return _matches(every, digits)


def valid_nanp(digits: str) -> bool:
    """A North American number (country code 1), with or without the leading 1."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and _matches(_for_code("1"), digits)
