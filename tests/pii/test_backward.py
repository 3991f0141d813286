"""Context words read backwards (llmprod.pii._backward) give the answers of the forward regex."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmprod.pii import _addresses, _numbers, _secrets
from llmprod.pii._backward import Before, reverse
from tests.pii import evalset

CONTEXTS = {
    "phone": _numbers._PHONE_CONTEXT,
    "not phone": _numbers._NOT_PHONE_CONTEXT,
    "ssn": _numbers._SSN_CONTEXT,
    "version": _numbers._VERSION_BEFORE,
    "message id": _addresses._MESSAGE_ID,
    "credential name": _secrets.KEY_BEFORE,
}
NOT_AFTER_ALNUM = "(?![A-Za-z0-9])"


def _forward(before: Before) -> re.Pattern[str]:
    """The question asked the usual way: the pattern at the end of the window, searched."""
    head = re.match(r"\(\?[aiLmsux]+\)", before.pattern)
    lead = head.group() if head else ""
    assert before.boundary in ("", NOT_AFTER_ALNUM)  # read forwards: not right after a letter or digit
    guard = "(?<![A-Za-z0-9])" if before.boundary else ""
    return re.compile(lead + guard + "(?:" + before.pattern[len(lead) :] + r")\Z", before.flags)


def _windows() -> list[tuple[str, int]]:
    """Every position before a digit, "=", ":" or "<" in a sample of the evaluation set, and its text."""
    found = []
    for sample in evalset.build(150, seed=3):
        found += [(sample.text, i) for i, ch in enumerate(sample.text) if ch.isdigit() or ch in "=:<"]
    return found


WINDOWS = _windows()


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_backward_answers_as_the_forward_search(name: str) -> None:
    before = CONTEXTS[name]
    forward = _forward(before)
    said = 0
    for text, at in WINDOWS:
        window = text[max(0, at - before.width) : at]
        expected = forward.search(window) is not None
        assert before(window, len(window)) is expected, (name, window)
        said += expected
    assert said > 0 or name == "message id"  # the sample holds these words (message ids sit after "<")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("tel:Phone #no.Order9 -_\"'=passwordkeyTOKEN\n")), max_size=40))
def test_backward_answers_as_the_forward_search_on_any_text(text: str) -> None:
    for before in CONTEXTS.values():
        assert before(text, len(text)) is (_forward(before).search(text) is not None), (before.pattern, text)


def test_reverse_reverses_groups_classes_and_quantifiers() -> None:
    assert reverse(r"ab[cd]+(?:ef|g\.h){2,3}?\s?") == r"\s?(?:fe|h\.g){2,3}?[cd]+ba"
    assert reverse(r"(?i)(?:\bver\.?|x)") == r"(?i)(?:\.?rev\b|x)"
    assert re.fullmatch(reverse(reverse(r"t[ée]l(?: me)?\d{1,3}")), "tél me12")


@pytest.mark.parametrize("pattern", [r"a(?=b)", r"(?<=a)b", r"^ab", r"ab$", r"(a)b", r"(a)\1", r"ab\Z"])
def test_what_cannot_be_reversed_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="cannot reverse"):
        reverse(pattern)
