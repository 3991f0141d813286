"""What every endpoint's codec shares: prompt slots, the view, patching, the protocol.

A codec knows one endpoint's JSON (OpenAI's chat completions, embeddings, Responses
API; Anthropic's messages). It reads the SDK's body into the view the layers read, writes
a layer's changes back into the body, reads the provider's answer (whole or streamed)
into the view answer, and writes an answer the layers changed, or one that did not come
from the SDK's endpoint (a cache hit, a fallback deployment), back in the endpoint's shape.

The prompt's texts are *slots*: ``(container, key)`` pairs, ``container[key]`` a string,
grouped by message. The view's message ``i`` has one text part per slot of group ``i``, so
a layer that redacts the parts (PII) can be written back slot by slot.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Protocol

from .._core.call import Operation
from .._core.errors import InvalidRequestError, ProviderError, RateLimitedError
from .._core.models import ChatChunk, ChatRequest, ChatResponse, Message
from .._core.raw import Event, RawAnswer, RawRequest

Slot = tuple[Any, Any]
Group = tuple[str, list[Slot]]  # (role, the message's text slots)


class Codec(Protocol):
    """One endpoint's JSON. See the module docstring; the implementations are the spec."""

    operation: Operation

    def groups(self, body: Any) -> list[Group]:
        """The prompt's text slots in ``body``, by message."""
        ...

    def view(self, body: Mapping[str, Any], messages: tuple[Message, ...]) -> dict[str, Any]:
        """The view request's fields besides ``messages`` (model, sampling)."""
        ...

    def parse(self, data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
        """The provider's whole answer as the view answer (raises the typed error for an error body)."""
        ...

    def start(self, *, deployment: str, model: str) -> Any:
        """A fresh state for reading a stream."""
        ...

    def feed(self, state: Any, event: str | None, data: Mapping[str, Any]) -> ChatChunk:
        """Read one stream event: the view chunk it makes (text, tool-call deltas)."""
        ...

    def ended(self, state: Any) -> bool:
        """Whether the stream read so far is complete."""
        ...

    def final(self, state: Any) -> ChatResponse:
        """The whole answer of a stream that ended."""
        ...

    def read_error(self, status: int, body: Any, text: str) -> tuple[str, str | None]:
        """(message, error type) from an error body."""
        ...

    def retext(self, data: dict[str, Any], text: str) -> None:
        """Put ``text`` in a stream event in place of the text it carries."""
        ...

    def patch_answer(self, data: dict[str, Any], response: ChatResponse) -> None:
        """Write a view answer a layer changed (text, tool calls, finish) into the body."""
        ...

    def body_of(self, response: ChatResponse, raw: RawRequest) -> dict[str, Any]:
        """An answer that came without the endpoint's body, in the endpoint's shape."""
        ...

    def events_of(self, body: Mapping[str, Any], raw: RawRequest) -> list[Event]:
        """A whole answer's body as the stream events that would have carried it."""
        ...

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        """An error in the endpoint's shape, for an error that came without one."""
        ...


class BaseCodec:
    """What every codec inherits: the body as it will be sent (see :func:`patched`)."""

    def patched_body(self, raw: RawRequest, request: ChatRequest) -> Mapping[str, Any]:
        return patched(self, raw, request)  # type: ignore[arg-type]


def view_messages(groups: list[Group]) -> tuple[Message, ...]:
    """The view's messages: one text part per slot."""
    return tuple(
        Message(role=role, content=tuple({"type": "text", "text": c[k]} for c, k in slots))  # type: ignore[arg-type]
        for role, slots in groups
    )


def text_slot(container: Any, key: Any, slots: list[Slot]) -> None:
    """Add ``container[key]`` to ``slots`` when it is a string."""
    if isinstance(container[key], str):
        slots.append((container, key))


def patched(codec: Codec, raw: RawRequest, request: ChatRequest) -> Mapping[str, Any]:
    """``raw.body`` with the prompt texts of ``request`` (the same body when no layer changed them)."""
    if request.messages is raw.messages:
        return raw.body
    body = copy.deepcopy(dict(raw.body))
    groups = codec.groups(body)
    if len(groups) != len(request.messages):
        raise InvalidRequestError("a layer changed the number of messages; llmprod.wrap can only send text changes")
    for (_, slots), message in zip(groups, request.messages, strict=True):
        parts = message.content if isinstance(message.content, tuple) else ()
        texts = [p.get("text") for p in parts if p.get("type") == "text"]
        if len(texts) != len(slots):
            raise InvalidRequestError("a layer changed a message's parts; llmprod.wrap can only send text changes")
        for (container, key), text in zip(slots, texts, strict=True):
            container[key] = text
    return body


def number(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def integer(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stops(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(s, str) for s in value):
        return tuple(value)
    return None


def replace_text(value: Any, old: str, new: str) -> Any:
    """``value`` with every string equal to ``old`` replaced by ``new`` (deep)."""
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, dict):
        return {k: replace_text(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_text(v, old, new) for v in value]
    return value


def loads(text: str | bytes) -> Any:
    return json.loads(text)


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def raw_answer_of(exc: BaseException) -> RawAnswer | None:
    """The provider's own error answer, kept on an error the SDK's endpoint raised."""
    raw = getattr(exc, "raw_answer", None)
    return raw if isinstance(raw, RawAnswer) else None


def keep_answer(exc: ProviderError | RateLimitedError, answer: RawAnswer) -> ProviderError | RateLimitedError:
    exc.raw_answer = answer  # type: ignore[union-attr]
    return exc
