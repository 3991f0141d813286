"""Phone number validity from Google's libphonenumber metadata (the ``phonenumbers`` package).

``phonenumbers.is_valid_number`` costs hundreds of microseconds a call; the same
decision, made on the metadata directly, costs a few. For each country calling code
we compile, once, the national number patterns of every number type of every region
that shares the code (fixed line, mobile, toll free, ...). A number written with its
country code is valid when its national part matches one of them. A number written
in national form names no country, so it can only be checked against every region:
that tells a plausible number from an impossible one, not a phone number from any
other number, and the scanner asks for a phone context or a phone's shape as well.

``phonenumbers`` is imported on the first check, never by ``import llmprod``.
"""

from __future__ import annotations

import re
import threading
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
_lock = threading.Lock()
_by_code: dict[str, re.Pattern[str] | None] = {}
_national: list[re.Pattern[str]] = []  # [with trunk prefix "0" stripped, any region's national number]


def _library() -> Any:
    import phonenumbers  # a core dependency, imported here so that `import llmprod` stays fast

    return phonenumbers


def _patterns(metadata: Any) -> list[str]:
    found = []
    for kind in _TYPES:
        desc = getattr(metadata, kind, None)
        if desc is not None and desc.national_number_pattern:
            found.append(desc.national_number_pattern)
    return found


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    unique = sorted(set(patterns))
    return re.compile("(?:" + "|".join(unique) + r")\Z") if unique else None


def _for_code(code: str) -> re.Pattern[str] | None:
    found = _by_code.get(code, False)
    if found is not False:
        return found  # type: ignore[return-value]
    lib = _library()
    patterns: list[str] = []
    number = int(code)
    for region in lib.COUNTRY_CODE_TO_REGION_CODE.get(number, ()):
        metadata = (
            lib.PhoneMetadata.metadata_for_nongeo_region(number)
            if region == "001"
            else lib.PhoneMetadata.metadata_for_region(region)
        )
        if metadata is not None:
            patterns += _patterns(metadata)
    with _lock:
        _by_code[code] = compiled = _compile(patterns) if patterns else None
    return compiled


def valid_international(digits: str) -> bool:
    """Whether ``digits`` (what follows ``+`` or the ``00`` prefix) is a valid number of some country."""
    if not 7 <= len(digits) <= 15 or digits[0] == "0" or not digits.isdigit():
        return False
    for n in (1, 2, 3):
        pattern = _for_code(digits[:n])
        if pattern is not None and pattern.match(digits, n):
            return True
    return False


def _national_tables() -> list[re.Pattern[str]]:
    if _national:
        return _national
    lib = _library()
    trunk: list[str] = []
    every: list[str] = []
    for region in lib.SUPPORTED_REGIONS:
        metadata = lib.PhoneMetadata.metadata_for_region(region)
        patterns = _patterns(metadata)
        every += patterns
        if metadata.national_prefix == "0":
            trunk += patterns
    tables = [_compile(trunk), _compile(every)]
    with _lock:
        if not _national:
            _national.extend(t for t in tables if t is not None)
    return _national


def valid_national(digits: str) -> bool:
    """Whether ``digits``, written in national form, is a valid number in some region.

    A leading ``0`` is taken as the trunk prefix where a region has one; otherwise
    the digits must be a region's whole national number (Italy keeps its ``0``).
    """
    if not 6 <= len(digits) <= 13:
        return False
    trunk, every = _national_tables()
    if digits[0] == "0" and trunk.match(digits, 1):
        return True
    return every.match(digits) is not None


def valid_nanp(digits: str) -> bool:
    """A North American number (country code 1), with or without the leading 1."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10:
        return False
    pattern = _for_code("1")
    return pattern is not None and pattern.match(digits) is not None
