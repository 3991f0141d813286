"""Incremental detokenization and stop strings (pure: a byte table stands in for a tokenizer)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from llmprod.backends._hf_text import TextOutput

# A byte-level vocabulary: each id is some bytes; "é" is split over two tokens, as byte-level BPE does.
VOCAB = {1: b"Hel", 2: b"lo", 3: b" wor", 4: b"ld", 5: b"\xc3", 6: b"\xa9", 7: b"!", 8: b" ST", 9: b"OP", 10: b" S"}


def decode(ids: Sequence[int]) -> str:
    return b"".join(VOCAB[i] for i in ids).decode("utf-8", errors="replace")


def run(ids: list[int], stop: Sequence[str] = ()) -> tuple[list[str], TextOutput]:
    output = TextOutput(decode, stop)
    deltas = [output.add(i) for i in ids]
    deltas.append(output.flush())
    return deltas, output


def test_deltas_join_to_the_whole_decoded_text() -> None:
    deltas, output = run([1, 2, 3, 4, 7])
    assert deltas == ["Hel", "lo", " wor", "ld", "!", ""]
    assert output.text == "Hello world!"


def test_half_a_character_is_held_until_its_other_half() -> None:
    deltas, _ = run([1, 5, 6, 7])
    assert deltas == ["Hel", "", "é", "!", ""]
    assert "\ufffd" not in "".join(deltas)


def test_a_dangling_half_character_is_released_at_the_end() -> None:
    deltas, _ = run([1, 5])
    assert deltas == ["Hel", "", "\ufffd"]


@pytest.mark.parametrize(
    ("ids", "stop", "text"),
    [
        ([1, 2, 8, 9, 3], ["STOP"], "Hello "),  # the stop string spans two tokens
        ([1, 2, 3, 4], ["wor", "lo"], "Hel"),  # the earliest of several stop strings wins
        ([1, 2, 3, 4], ["zzz"], "Hello world"),
    ],
)
def test_stop_strings_cut_the_text(ids: list[int], stop: list[str], text: str) -> None:
    deltas, output = run(ids, stop)
    assert "".join(deltas) == output.text == text
    assert output.stopped == (text != "Hello world")


def test_the_beginning_of_a_stop_string_is_held_back_then_released() -> None:
    output = TextOutput(decode, [" STOP"])
    assert output.add(1) == "Hel"
    assert output.add(10) == ""  # " S" may begin " STOP"
    assert output.add(2) == " Slo"  # it did not
    assert output.add(8) == ""
    assert output.flush() == " ST"  # the generation ended first: nothing was a stop


def test_tokens_after_a_stop_are_ignored() -> None:
    output = TextOutput(decode, ["lo"])
    assert [output.add(i) for i in (1, 2, 3)] == ["He", "l", ""]  # "l" might have begun "lo"
    assert output.stopped and output.text == "Hel"
    assert output.flush() == ""
