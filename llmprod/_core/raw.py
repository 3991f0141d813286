"""What ``llmprod.wrap`` carries through the stack: the SDK's own request and the
provider's own answer, beside the views every layer reads.

A wrapped SDK serializes a request itself; llmprod builds a view of it (a
:class:`~llmprod._core.models.ChatRequest` or :class:`~llmprod._core.models.EmbedRequest`
with ``raw`` set) so that the layers read the prompt, the model and the sampling
parameters as usual. The endpoint the SDK client was built for sends the SDK's own bytes
(patched only where a layer changed the prompt: PII redaction) and keeps what the
provider answered (:class:`RawAnswer`): the caller's SDK then parses the provider's
own body, every field included. Other deployments (``fallbacks=``) get the view only.

These are subclasses, so a plain chat call pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import ChatChunk, ChatRequest, ChatResponse, Message

Headers = tuple[tuple[str, str], ...]
Event = tuple[str | None, str]  # a server-sent event: (event name, data)


@dataclass(frozen=True, slots=True, eq=False)
class RawRequest:
    """An HTTP request as the SDK built it.

    ``url`` is where the SDK sent it (the cache key covers it); ``body`` the decoded
    JSON of ``content``; ``messages`` the view's messages as first built (a layer that
    changes the prompt makes a new tuple, and the body is then patched through
    ``codec``). Only ``sender`` (the wrapped client's own endpoint) sends it as is: its
    headers carry that endpoint's credentials.
    """

    operation: str
    method: str
    url: str
    headers: Headers
    content: bytes
    body: Mapping[str, Any]
    messages: tuple[Message, ...]
    codec: Any
    sender: object
    stream: bool = False


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """The provider's answer: status, headers and (for a whole answer) the JSON text."""

    status: int
    headers: Headers
    body: str | None = None


@dataclass(frozen=True, slots=True)
class RawChatRequest(ChatRequest):
    """A chat (or Responses API) request from a wrapped SDK: the view and ``raw``."""

    raw: RawRequest | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RawChatResponse(ChatResponse):
    """An answer that keeps the provider's own: ``raw`` (its body, for a whole answer),
    and, for a stream, ``tail``: the events that close it, sent after the last chunk."""

    raw: RawAnswer | None = field(default=None, repr=False, compare=False)
    tail: tuple[Event, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RawChunk(ChatChunk):
    """A streamed piece that keeps the provider's own events. ``wire_text`` is the text
    those events carry: a layer that changed ``text`` (PII) makes the two differ, and the
    events are rewritten. The first chunk of a stream carries ``head`` (status, headers)."""

    events: tuple[Event, ...] = field(default=(), repr=False)
    wire_text: str = ""
    head: RawAnswer | None = field(default=None, repr=False)


def raw_of(request: ChatRequest) -> RawRequest | None:
    """The SDK request behind ``request``, if it came through ``llmprod.wrap``."""
    if type(request) is ChatRequest:
        return None
    raw = getattr(request, "raw", None)
    return raw if isinstance(raw, RawRequest) else None
