"""The validators give the answers of their plain definitions (they are written for speed)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from llmprod.pii._checks import card_ok, iban_ok, ipv6_ok, luhn_ok
from llmprod.pii._tables import CARD_RANGES


def _luhn(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        d = int(ch)
        if index % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(digits: str) -> bool:
    return (
        any(
            low <= digits[: len(low)] <= high and len(digits) in lengths and _luhn(digits)
            for low, high, lengths in CARD_RANGES
        )
        and 12 <= len(digits) <= 19
    )


def _ipv6(value: str) -> bool:
    if not any(ch.isdigit() for ch in value):
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=19))
def test_luhn_and_issuers(digits: str) -> None:
    assert luhn_ok(digits) is _luhn(digits)
    assert card_ok(digits) is _card(digits)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789abcdefAF:.")), max_size=45))
def test_ipv6_as_ipaddress_reads_it(value: str) -> None:
    assert ipv6_ok(value) is _ipv6(value)


@settings(max_examples=300, deadline=None)
@given(
    groups=st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8),
    cut=st.tuples(st.integers(0, 8), st.integers(0, 8)),
    tail=st.none() | st.tuples(*[st.integers(0, 300)] * 4),
)
def test_ipv6_written_every_way(groups: list[int], cut: tuple[int, int], tail: tuple[int, ...] | None) -> None:
    hexes = [format(g, "x") for g in groups]
    a, b = sorted(cut)
    written = [":".join(hexes), ":".join(hexes[:a]) + "::" + ":".join(hexes[b:])]
    if tail is not None:
        written.append(":".join(hexes[:6]) + ":" + ".".join(map(str, tail)))
    for value in written:
        assert ipv6_ok(value) is _ipv6(value), value


def test_iban_check_digits() -> None:
    assert iban_ok("GB29NWBK60161331926819") and iban_ok("NO9386011117947")
    assert not iban_ok("GB29NWBK60161331926818") and not iban_ok("GB29NWBK6016133192681")
    assert not iban_ok("GB29NWBK60161331926 19")  # a space is no IBAN character
