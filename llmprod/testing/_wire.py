"""The wire protocol: how :class:`FaultServer` speaks one provider's HTTP API.

The server does the HTTP (keep-alive, chunked or close-delimited bodies), the
recording and the faults; a :class:`Wire` only translates between JSON and the
server's neutral data. One wire serves one POST path; the server routes a request
to the wire registered for its path (``/v1/chat/completions`` for OpenAI, ``/v1/embeddings``
and ``/v1/responses`` for its embeddings and Responses API, ``/v1/messages`` for
Anthropic, ``/v2/chat`` for Cohere). Azure OpenAI's paths
(``/openai/deployments/<deployment>/...?api-version=...``) reach the OpenAI wires.

A wire module (``llmprod/testing/_wire_<name>.py``) defines one instance named
``WIRE``; :func:`builtin_wires` finds the modules listed in ``BUILTIN_WIRES``.

The server calls, per request:

1. ``parse(body)`` with the decoded JSON body. It returns a :class:`WireRequest`
   (raise :class:`WireError` for a body the real provider would refuse: the server
   answers ``status`` with ``error(...)``).
2. For a plain answer: ``completion(request, reply)``, a JSON-ready dict.
   For ``request.stream``: ``stream(request, reply)``, the list of SSE frames
   (bytes, each a whole event ending in a blank line, e.g.
   ``b'data: {...}\\n\\n'``), then ``done()``, the terminal frames (OpenAI's
   ``data: [DONE]``; empty when the provider has none). Faults count frames: "cut
   after 3" sends ``stream(...)[:3]``.
3. For an injected error: ``error(status, message, error_type, code)``, the JSON
   error body; inside a 200 stream, ``stream_error(message, error_type, code)``,
   one SSE frame.

``reply`` is the answer to give, already resolved: ``usage`` is set, ``pieces()``
splits the text into the stream deltas (one word each). Wires are stateless and
must be cheap: the server is used to benchmark clients.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._core.models import Usage

BUILTIN_WIRES = (
    "llmprod.testing._wire_openai",
    "llmprod.testing._wire_embeddings",
    "llmprod.testing._wire_responses",
    "llmprod.testing._wire_anthropic",
    "llmprod.testing._wire_cohere",
)


class WireError(Exception):
    """A request body the provider would refuse; the server answers ``status``."""

    def __init__(self, message: str, *, status: int = 400, error_type: str | None = "invalid_request_error") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type


@dataclass(frozen=True, slots=True, kw_only=True)
class WireRequest:
    """What the server needs to know about a request, in neutral form.

    ``prompt`` is every message's text joined by newlines (the default answer is
    derived from it); ``include_usage`` says whether a stream should carry usage.
    ``prefix`` is set when the request asks the model to continue an assistant message
    it had begun (vLLM's ``continue_final_message``, Anthropic's assistant prefill): the
    text of that message, left out of ``prompt``. The server then answers with the rest
    of the answer that begins with it, as a greedy model would.
    """

    model: str
    prompt: str
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = True
    message_count: int = 1
    tools: Sequence[Mapping[str, Any]] | None = None
    prefix: str | None = None
    body: Mapping[str, Any] | None = None  # the decoded request, for what a wire echoes back


_PIECE = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """The answer the server gives.

    With ``usage`` None the server counts it (one token per word). ``tool_calls`` are
    OpenAI-shaped (``{"id", "type": "function", "function": {"name", "arguments"}}``);
    a wire converts them to its provider's shape.
    """

    text: str = ""
    finish_reason: str = "stop"
    usage: Usage | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None
    id: str = "reply-0"

    def pieces(self) -> list[str]:
        """The text as stream deltas: one word (with its spacing) each."""
        return _PIECE.findall(self.text)

    @property
    def counted_usage(self) -> Usage:
        """``usage``, which the server always sets before a wire sees the reply."""
        return self.usage if self.usage is not None else Usage()


class Wire(Protocol):
    """One provider's request and response format (see the module docstring)."""

    name: str
    path: str

    def parse(self, body: Any) -> WireRequest:
        """Validate the decoded JSON body; raise :class:`WireError` when refused."""
        ...

    def completion(self, request: WireRequest, reply: Reply) -> dict[str, Any]:
        """The JSON body of a non-streamed answer."""
        ...

    def stream(self, request: WireRequest, reply: Reply) -> list[bytes]:
        """The SSE frames of a streamed answer, without the terminal ones."""
        ...

    def done(self) -> list[bytes]:
        """The terminal frames that end a stream (may be empty)."""
        ...

    def error(self, status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
        """The JSON body of an error answer."""
        ...

    def stream_error(self, message: str, error_type: str | None, code: str | None) -> bytes:
        """One SSE frame reporting an error inside a 200 stream."""
        ...


def json_object(body: Any) -> Mapping[str, Any]:
    """``body``, when it is a JSON object (what OpenAI's and Anthropic's APIs take)."""
    if not isinstance(body, Mapping):
        raise WireError("the request body must be a JSON object")
    return body


def required_model(body: Mapping[str, Any], message: str = "'model' is required") -> str:
    """The request's model name; ``message`` is the provider's words when it is missing."""
    model = body.get("model")
    if not isinstance(model, str):
        raise WireError(message)
    return model


def sse(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One server-sent event frame (compact JSON when ``data`` is a mapping)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def builtin_wires() -> list[Wire]:
    """The wires shipped with llmprod (those whose module exists)."""
    wires: list[Wire] = []
    for module_name in BUILTIN_WIRES:
        if importlib.util.find_spec(module_name) is None:
            continue
        wires.append(importlib.import_module(module_name).WIRE)
    return wires


__all__ = ["BUILTIN_WIRES", "Reply", "Wire", "WireError", "WireRequest", "builtin_wires", "sse"]
