"""The data that travels through the stack: requests, responses, stream chunks.

Plain frozen dataclasses. Layers never mutate them; they derive new ones with
``dataclasses.replace``. What layers learn about a call travels back on what they
return (see :mod:`llmprod._core.call`), never on the request.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import Budget
from .display import preformatted, table

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant", "tool"})

FinishReason = str  # "stop", "length", "tool_calls", "content_filter", or a provider's own


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in OpenAI's role/content form.

    ``content`` is a string, or a list of content parts (``{"type": "text", ...}``)
    for multimodal messages, or ``None`` for an assistant turn that only calls tools.
    """

    role: Role
    content: str | tuple[Mapping[str, Any], ...] | None
    name: str | None = None
    tool_calls: tuple[Mapping[str, Any], ...] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text: the string content, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": _plain(self.content)}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls is not None:
            out["tool_calls"] = _plain(self.tool_calls)
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


def _plain(value: Any) -> Any:
    """Deep-convert tuples and mappings back to JSON-ready lists and dicts."""
    if value is None or type(value) is str:  # the common case, without Mapping's slow ABC check
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class CacheControl:
    """Per-request cache switches (see the cache layer)."""

    lookup: bool = True
    store: bool = True
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class RequestMetadata:
    """What layers need to know about a call besides the model input.

    None of these fields change what the model answers, so none enter a cache key.
    The call's deadline is not here: it belongs to the call (``Call.deadline``).
    """

    tenant: str | None = None
    api_key: str | None = field(default=None, repr=False)
    user: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    cache: CacheControl = CacheControl()
    slo: str | None = None
    region: str | None = None
    tier: str | None = None
    budget: Budget | None = None  # a per-call budget (the caller's API key's), on top of the client's


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat request. ``model`` may be None: the deployment's own model is used."""

    messages: tuple[Message, ...]
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    tools: tuple[Mapping[str, Any], ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    response_format: Mapping[str, Any] | None = None
    user: str | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    metadata: RequestMetadata = RequestMetadata()

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters that are set, in OpenAI's names."""
        out: dict[str, Any] = {}
        for name in SAMPLING_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = _plain(value)
        return out

    def prompt_text(self) -> str:
        return "\n".join(m.text() for m in self.messages)


@dataclass(frozen=True, slots=True)
class EmbedRequest(ChatRequest):
    """An embeddings request (``client.embed``). Each input travels as one user message,
    so every layer that reads prompts (PII, guards, token counts, rate limits, the cache
    key) reads the inputs the same way; :attr:`inputs` gives them back as strings.
    Provider fields (``dimensions``, ``encoding_format``) travel in ``extra_body``.
    ``raw`` is the SDK's own request when the call came through ``llmprod.wrap``.
    """

    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(m.text() for m in self.messages)


SAMPLING_FIELDS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "response_format",
    "user",
)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. ``estimated`` is True when counted locally, not reported."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


Outcome = Literal["ok", "error", "circuit_open", "cancelled", "timeout"]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt at one replica of one deployment."""

    deployment: str
    replica: str
    outcome: Outcome
    latency: float
    error: str | None = None
    hedge: bool = False


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """The answer, and what it took to get it."""

    id: str
    text: str
    finish_reason: FinishReason | None
    usage: Usage
    model: str
    deployment: str = ""
    tool_calls: tuple[Mapping[str, Any], ...] | None = None
    cost: float | None = None
    latency: float = 0.0
    ttft: float | None = None
    cached: bool = False
    stale: bool = False
    attempts: int = 1
    attempt_log: tuple[AttemptRecord, ...] = ()
    tier: str | None = None
    route_reason: str | None = None
    pii_redacted: Mapping[str, int] = field(default_factory=dict)
    flagged: tuple[str, ...] = ()

    @property
    def message(self) -> Message:
        return Message(role="assistant", content=self.text, tool_calls=self.tool_calls)

    def _repr_html_(self) -> str:
        usage = self.usage
        tokens = f"{usage.prompt_tokens} / {usage.completion_tokens}" + (" (est.)" if usage.estimated else "")
        rows: list[tuple[str, object]] = [
            ("model", self.model),
            ("deployment", self.deployment),
            ("finish", self.finish_reason),
            ("tokens in / out", tokens),
            ("cost (USD)", self.cost),
            ("latency (s)", round(self.latency, 4)),
            ("attempts", self.attempts),
            ("cached", "stale" if self.stale else self.cached),
        ]
        if self.pii_redacted:
            rows.append(("PII redacted", ", ".join(f"{k} {v}" for k, v in sorted(self.pii_redacted.items()))))
        return preformatted(self.text) + table("ChatResponse", ("field", "value"), rows)


@dataclass(frozen=True, slots=True)
class EmbedResponse(ChatResponse):
    """Embeddings, and what it took to get them (``usage``, ``cost``, ``cached``,
    ``latency``, the attempt log, as for a chat answer). ``vectors[i]`` is the embedding
    of input ``i``; ``text`` is empty. ``raw`` is the provider's own answer when the call
    came through ``llmprod.wrap`` (its vectors are then in ``raw``, in the encoding the
    SDK asked for, and ``vectors`` is empty)."""

    vectors: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One streamed delta. The last chunk of a stream carries ``finish_reason``,
    ``usage`` and ``response``: the whole answer assembled, as ``complete`` would
    have returned it (layers annotate it: cost, attempts, cached)."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    tool_calls: tuple[Mapping[str, Any], ...] | None = None
    response: ChatResponse | None = None


_ids = itertools.count(1)


def new_id(prefix: str = "llmprod") -> str:
    return f"{prefix}-{time.time_ns():x}-{next(_ids)}"


class StreamAssembler:
    """Builds the final :class:`ChatResponse` of a stream from its chunks."""

    __slots__ = ("_parts", "_tool_calls", "deployment", "finish_reason", "id", "model", "usage")

    def __init__(self, *, model: str, deployment: str, id: str | None = None) -> None:
        self._parts: list[str] = []
        self._tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model = model
        self.deployment = deployment
        self.id = id or new_id()

    def add_text(self, text: str) -> None:
        if text:
            self._parts.append(text)

    def add_tool_call_delta(self, delta: Mapping[str, Any]) -> None:
        """Merge one OpenAI-style streamed tool-call delta (by ``index``)."""
        index = int(delta.get("index", 0))
        call = self._tool_calls.setdefault(index, {"type": "function", "function": {"name": "", "arguments": ""}})
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        fn = delta.get("function") or {}
        if fn.get("name"):
            call["function"]["name"] += fn["name"]
        if fn.get("arguments"):
            call["function"]["arguments"] += fn["arguments"]

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def response(self) -> ChatResponse:
        tool_calls = tuple(self._tool_calls[i] for i in sorted(self._tool_calls)) or None
        return ChatResponse(
            id=self.id,
            text=self.text,
            finish_reason=self.finish_reason,
            usage=self.usage or Usage(),
            model=self.model,
            deployment=self.deployment,
            tool_calls=tool_calls,
        )

    def final_chunk(self) -> ChatChunk:
        response = self.response()
        return ChatChunk(
            finish_reason=response.finish_reason,
            usage=response.usage,
            response=response,
        )
