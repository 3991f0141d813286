"""Streaming redaction equals whole-text redaction, for every chunking."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmprod.pii as pii
from tests.pii import corpus

SAMPLES = corpus.build(n=600)
STAFF = pii.Detector("EMPLOYEE_ID", r"\bEMP-\d{6}\b")


def _streamed(text: str, cuts: list[int], stream: pii.StreamRedactor) -> str:
    out = []
    at = 0
    for cut in sorted(set(cuts)):
        out.append(stream.feed(text[at:cut]))
        at = cut
    out.append(stream.feed(text[at:]))
    out.append(stream.flush())
    return "".join(out)


@st.composite
def chunked(draw: st.DrawFn) -> tuple[str, list[int]]:
    sample = draw(st.sampled_from(SAMPLES))
    text = sample.text + draw(st.sampled_from(["", " EMP-123456", "\n", " +44 20 7946 0958"]))
    cuts = draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=len(text)))
    return text, cuts


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=chunked(), mode=st.sampled_from(["mask", "pseudonymize"]))
def test_stream_equals_whole_text(case: tuple[str, list[int]], mode: str) -> None:
    text, cuts = case
    whole = pii.Redactor(mode=mode, detectors=[STAFF]).redact(text)  # type: ignore[arg-type]
    assert _streamed(text, cuts, pii.StreamRedactor(mode=mode, detectors=[STAFF])) == whole  # type: ignore[arg-type]


def test_every_corpus_text_one_character_at_a_time() -> None:
    for sample in SAMPLES:
        whole = pii.redact(sample.text)
        assert _streamed(sample.text, list(range(len(sample.text))), pii.StreamRedactor()) == whole


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("0123456789 .-+()@:abcAB/\n")), max_size=80), data=st.data())
def test_stream_equals_whole_text_on_symbol_soup(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=20))
    assert _streamed(text, cuts, pii.StreamRedactor()) == pii.redact(text)


def test_value_split_across_chunks_is_caught() -> None:
    s = pii.StreamRedactor()
    out = [s.feed("mail jo"), s.feed("hn@exa"), s.feed("mple.com"), s.feed(" now"), s.flush()]
    assert "".join(out) == "mail [EMAIL] now"
    assert out[0] == "mail "  # only the word that could still become an address waits
    assert s.counts == {"EMAIL": 1}


def test_hold_back_is_small_on_prose() -> None:
    s = pii.StreamRedactor()
    words = ["The", "quick", "brown", "fox,", "he", "said,", "jumps", "over", "the", "lazy", "dog.", "Call", "me!"]
    emitted = 0
    for word in words * 20:
        emitted += len(s.feed(word + " "))
        assert s.held <= 12  # at most the word being written (and a space after a number)
    assert emitted + len(s.flush()) > 0


def test_long_runs_are_cut_and_stay_equal() -> None:
    text = "a" * 3000 + " jo@example.com " + "1 " * 2000 + "x" * 2000 + "@example.com end"
    s = pii.StreamRedactor()
    out = []
    peak = 0
    for i in range(0, len(text), 7):
        out.append(s.feed(text[i : i + 7]))
        peak = max(peak, s.held)
    out.append(s.flush())
    assert "".join(out) == pii.redact(text)
    assert peak < 2 * pii.Redactor().scanner.reach + 8


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_restorer_never_splits_a_placeholder(data: st.DataObject) -> None:
    r = pii.Redactor(mode="pseudonymize")
    redacted = r.redact("jo@example.com, ann@example.org, +44 20 7946 0958, 10.0.0.1, <b>bold</b> a<b")
    answer = data.draw(st.sampled_from([redacted, redacted + " <EMAIL_", "x<" + redacted + "<EMAIL_9> <"]))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(answer)), max_size=12))
    restorer = pii.StreamRestorer(r)
    out, at = [], 0
    for cut in sorted(set(cuts)):
        out.append(restorer.feed(answer[at:cut]))
        at = cut
    out.append(restorer.feed(answer[at:]))
    out.append(restorer.flush())
    assert "".join(out) == r.restore(answer)
