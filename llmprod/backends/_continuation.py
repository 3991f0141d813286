"""Continuing an answer in an in-process engine: the request, and the tokens it began with.

The request (:func:`continue_request`): the text received becomes the final assistant
message, or extends one the request had begun, and ``extra_body`` carries the chat
template's ``continue_final_message=True, add_generation_prompt=False`` (the names
vLLM's server takes), so the template leaves that message open and the engine
generates only what follows it.

The tokens (:class:`Transcripts`): the received text, tokenized again, is not always
the tokens the model generated. A model may write a word in pieces the tokenizer would
merge (``"brary" + "er"`` where the tokenizer writes ``"bra" + "rer"``), and a greedy
model that continues other tokens may continue differently. So an engine keeps the
tokens of each stream that broke before its end, and continues such a stream from the
very tokens it generated. A continuation it has no tokens for (another process's
stream, or one pushed out by newer ones) is tokenized afresh.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._core.models import ChatRequest, Message

TEMPLATE_FLAGS = ("continue_final_message", "add_generation_prompt")
KEPT = 256  # broken streams an engine keeps the tokens of, newest first

Decode = Callable[[Sequence[int]], str]


def continue_request(request: ChatRequest, text: str) -> ChatRequest:
    """``request`` asking for the rest of an answer that begins with ``text``."""
    messages = request.messages
    last = messages[-1]
    if continued(request) and last.role == "assistant" and isinstance(last.content, str) and not last.tool_calls:
        messages = (*messages[:-1], replace(last, content=last.content + text))
    else:
        messages = (*messages, Message("assistant", text))
    extra = {**request.extra_body, "continue_final_message": True, "add_generation_prompt": False}
    return replace(request, messages=messages, extra_body=extra)


def continued(request: ChatRequest) -> bool:
    """Whether ``request`` asks to continue its final assistant message."""
    return bool(request.extra_body.get("continue_final_message"))


def template_flags(request: ChatRequest) -> dict[str, bool]:
    """The chat template's ``continue_final_message`` and ``add_generation_prompt`` for ``request``."""
    extra = request.extra_body
    continuing = bool(extra.get("continue_final_message", False))
    return {
        "continue_final_message": continuing,
        "add_generation_prompt": bool(extra.get("add_generation_prompt", not continuing)),
    }


def sampling_options(request: ChatRequest) -> dict[str, Any]:
    """``extra_body`` without the chat template's flags: what the sampler gets."""
    return {k: v for k, v in request.extra_body.items() if k not in TEMPLATE_FLAGS}


@dataclass(eq=False, slots=True)
class Transcript:
    """One stream: the request, the prompt tokens the engine was given, the tokens it
    generated (``ids``, which the engine may fill from its own thread) and, after each
    chunk handed on, how many characters and tokens had been."""

    request: ChatRequest
    prompt: list[int] = field(default_factory=list)
    budget: int | None = None  # the new tokens it was allowed (None: up to the context)
    ids: list[int] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    ends: list[tuple[int, int]] = field(default_factory=list)
    chars: int = 0

    def add(self, text: str, tokens: int) -> None:
        """A chunk of ``text`` was handed on, ``tokens`` generated tokens in."""
        self.parts.append(text)
        self.chars += len(text)
        self.ends.append((self.chars, tokens))

    def answered(self, request: ChatRequest) -> str | None:
        """The text of ``request``'s final message that this stream generated, when
        ``request`` continues this stream's answer; else None."""
        last = request.messages[-1]
        if last.role != "assistant" or not isinstance(last.content, str) or request.tools != self.request.tools:
            return None
        mine = self.request.messages
        begun = mine[-1].content if continued(self.request) and mine[-1].role == "assistant" else None
        if isinstance(begun, str):
            if mine[:-1] != request.messages[:-1] or not last.content.startswith(begun):
                return None
            return last.content[len(begun) :]
        return last.content if mine == request.messages[:-1] else None

    def tokens_for(self, sent: str, decode: Decode) -> int | None:
        """How many generated tokens make up ``sent`` (whitespace trimmed off its end may
        follow), or None when no chunk ended there."""
        text = "".join(self.parts)
        if not text.startswith(sent):
            return None
        for chars, tokens in ((0, 0), *self.ends):
            if chars < len(sent):
                continue
            # The first chunk end at or past the text; whitespace between is generated again.
            if text[len(sent) : chars].strip():
                return None
            # A chunk may end inside a token when text is held back (a stop string's start).
            return tokens if decode(self.ids[:tokens]).lstrip() == text[:chars].lstrip() else None
        return None


@dataclass(frozen=True, slots=True)
class Resume:
    """How to continue a kept stream: its prompt and generated tokens, and what is left of its budget."""

    prompt: list[int]
    left: int | None

    @property
    def spent(self) -> bool:
        """Whether the answer already had every token it was allowed: nothing is left to generate."""
        return self.left is not None and self.left <= 0


class Transcripts:
    """An engine's streams that broke before their end, the newest :data:`KEPT`."""

    def __init__(self, keep: int = KEPT) -> None:
        self._kept: deque[Transcript] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, transcript: Transcript) -> None:
        if transcript.prompt:
            self._kept.append(transcript)

    def continuation(self, request: ChatRequest, text: str, tokenizer: Any) -> ChatRequest:
        """``request`` asking for the rest of an answer that begins with ``text``; when it
        continues a kept stream, ``max_tokens`` is what that stream had left."""
        request = continue_request(request, text)
        found = self.resume(request, tokenizer)
        if found is not None and found.left is not None:
            request = replace(request, max_tokens=max(found.left, 1))
        return request

    def resume(self, request: ChatRequest, tokenizer: Any) -> Resume | None:
        """The tokens to continue ``request`` from (``tokenizer`` decodes them), when it
        continues a kept stream; None before the engine has a tokenizer."""
        if tokenizer is None:
            return None
        return self.find(request, lambda ids: str(tokenizer.decode(list(ids), skip_special_tokens=True)))

    def find(self, request: ChatRequest, decode: Decode) -> Resume | None:
        """The tokens to continue ``request`` from, when it continues a kept stream."""
        if not continued(request) or not self._kept:
            return None
        for transcript in reversed(self._kept):
            sent = transcript.answered(request)
            used = None if sent is None else transcript.tokens_for(sent, decode)
            if used is not None:
                left = None if transcript.budget is None else transcript.budget - used
                return Resume([*transcript.prompt, *transcript.ids[:used]], left)
        return None
