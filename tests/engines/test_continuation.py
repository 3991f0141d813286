"""Continuing an in-process engine's answer: the request, and finding the tokens a broken
stream generated (pure: a byte table stands in for a tokenizer; the engines themselves
are in test_transformers.py and test_vllm.py)."""

from __future__ import annotations

from collections.abc import Sequence

from llmprod import Message
from llmprod.backends import ChatRequest
from llmprod.backends._continuation import (
    Transcript,
    Transcripts,
    continue_request,
    continued,
    sampling_options,
    template_flags,
)

# Each id is some bytes. The tokenizer would write "river" as one token (7); a model may
# write it as "riv" + "er" (5, 6), and a retokenized continuation would not say so.
VOCAB = {1: b"The", 2: b" blue", 3: b".", 4: b"\n", 5: b" riv", 6: b"er", 7: b" river", 8: b" runs", 9: b"STOP"}
PROMPT = [100, 101, 102]
ASK = ChatRequest(messages=(Message("user", "a line, please"),), max_tokens=20, extra_body={"top_k": 5})


def decode(ids: Sequence[int]) -> str:
    return b"".join(VOCAB[i] for i in ids).decode()


def transcript(request: ChatRequest, chunks: list[list[int]], budget: int | None = 20) -> Transcript:
    """A stream of ``request`` that broke after handing on ``chunks`` (token ids each)."""
    kept = Transcript(request, list(PROMPT), budget)
    for ids in chunks:
        kept.ids.extend(ids)
        kept.add(decode(ids), len(kept.ids))
    return kept


def found(transcripts: Transcripts, request: ChatRequest, text: str) -> tuple[list[int], int | None] | None:
    resume = transcripts.find(continue_request(request, text), decode)
    return None if resume is None else (resume.prompt[len(PROMPT) :], resume.left)


def test_a_continuation_appends_the_text_or_extends_a_begun_answer() -> None:
    once = continue_request(ASK, "The blue")
    assert once.messages == (*ASK.messages, Message("assistant", "The blue"))
    assert once.extra_body == {"top_k": 5, "continue_final_message": True, "add_generation_prompt": False}
    assert continued(once) and not continued(ASK)
    assert continue_request(once, " river").messages[-1] == Message("assistant", "The blue river")
    # An assistant message the request did not ask to continue is a finished turn: a new one follows.
    finished = ChatRequest(messages=(*ASK.messages, Message("assistant", "Done.")))
    assert continue_request(finished, "More").messages[-2:] == (
        Message("assistant", "Done."),
        Message("assistant", "More"),
    )


def test_the_template_flags_are_no_sampling_options() -> None:
    once = continue_request(ASK, "The")
    assert template_flags(ASK) == {"continue_final_message": False, "add_generation_prompt": True}
    assert template_flags(once) == {"continue_final_message": True, "add_generation_prompt": False}
    assert sampling_options(once) == {"top_k": 5}


def test_a_broken_stream_is_continued_from_the_tokens_it_generated() -> None:
    transcripts = Transcripts()
    transcripts.keep(transcript(ASK, [[1], [5], [6], [8]]))  # "The", " riv", "er", " runs"
    assert found(transcripts, ASK, "The river") == ([1, 5, 6], 17)  # not the tokenizer's [1, 7]
    assert found(transcripts, ASK, "The") == ([1], 19)
    assert found(transcripts, ASK, "The ri") is None  # inside a chunk: not a point the stream passed
    assert found(transcripts, ASK, "The sea") is None
    other = ChatRequest(messages=(Message("user", "another question"),), max_tokens=20)
    assert found(transcripts, other, "The river") is None


def test_whitespace_the_layer_trimmed_is_generated_again() -> None:
    transcripts = Transcripts()
    transcripts.keep(transcript(ASK, [[1, 3], [4], [4], [1]]))  # "The.", "\n", "\n", "The"
    # The caller had "The.\n" or "The.\n\n"; it is asked for the rest of "The.": the
    # engine goes on after "The." and the layer drops the newlines the caller has.
    assert found(transcripts, ASK, "The.") == ([1, 3], 18)


def test_a_continuation_of_a_continuation_is_found_and_the_budget_is_what_was_left() -> None:
    transcripts = Transcripts()
    transcripts.keep(transcript(ASK, [[1], [5]]))  # broke after "The riv"
    first = continue_request(ASK, "The riv")
    assert found(transcripts, ASK, "The riv") == ([1, 5], 18)
    resumed = Transcript(first, [*PROMPT, 1, 5], 18)  # the continuation broke too, after "er runs"
    for ids in ([6], [8]):
        resumed.ids.extend(ids)
        resumed.add(decode(ids), len(resumed.ids))
    transcripts.keep(resumed)
    resume = transcripts.find(continue_request(ASK, "The river runs"), decode)
    assert resume is not None and resume.prompt == [*PROMPT, 1, 5, 6, 8] and resume.left == 16


def test_text_held_back_inside_a_chunk_falls_back_to_the_tokenizer() -> None:
    kept = Transcript(ASK, list(PROMPT), 20)
    kept.ids.extend([1, 9])  # "TheSTOP": a stop string's start was held back, "The" handed on
    kept.add("The", 2)
    transcripts = Transcripts()
    transcripts.keep(kept)
    assert found(transcripts, ASK, "The") is None


def test_an_answer_that_had_all_its_tokens_has_nothing_left() -> None:
    transcripts = Transcripts()
    transcripts.keep(transcript(ASK, [[1], [2]], budget=2))
    resume = transcripts.find(continue_request(ASK, "The blue"), decode)
    assert resume is not None and resume.spent and resume.left == 0
    unbounded = Transcripts()
    unbounded.keep(transcript(ASK, [[1], [2]], budget=None))
    resume = unbounded.find(continue_request(ASK, "The blue"), decode)
    assert resume is not None and resume.left is None and not resume.spent


def test_only_the_newest_broken_streams_are_kept() -> None:
    transcripts = Transcripts(keep=2)
    questions = [ChatRequest(messages=(Message("user", f"question {i}"),)) for i in range(3)]
    for question in questions:
        transcripts.keep(transcript(question, [[1]]))
    transcripts.keep(Transcript(ASK))  # never reached the engine (no prompt): nothing to keep
    assert len(transcripts) == 2
    assert found(transcripts, questions[0], "The") is None
    assert found(transcripts, questions[2], "The") == ([1], 19)
