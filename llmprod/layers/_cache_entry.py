"""The cache's pure parts: keys, the cacheability rules, entries and their wire format.

No I/O and no ``await`` here (STYLE rule 5): the layer and the stores drive these.

A key is ``<namespace>:v1:<tenant hash>:<request hash>``. Both hashes are sha256, so a
key holds no prompt text, tenant name or API key. The request hash covers what changes
the answer (model, messages, sampling parameters, ``extra_body``) and nothing else:
not the metadata (tenant, tags, deadline, cache control), not the trace, not ``user``
(OpenAI's end-user id, which does not change the output). Another operation than chat
(embeddings) is part of the hash; a request from a wrapped SDK hashes the SDK's own
body (as it will be sent) and its path, less the stream switches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .._core.models import ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Usage, _plain
from .._core.raw import RawAnswer, RawChatResponse, raw_of

FORMAT_VERSION = 1
KEY_VERSION = "v1"

_NOT_IN_KEY = frozenset({"user"})
_FLOAT_FIELDS = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty"})


def _canonical(value: Any) -> bytes:
    # repr for anything JSON cannot hold: such a key is unstable at worst (a miss), never wrong.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr).encode()


def tenant_hash(request: ChatRequest) -> str:
    """The tenant's namespace: a hash of the tenant and the API key, never either raw."""
    meta = request.metadata
    return hashlib.sha256(_canonical(["tenant", meta.tenant, "api_key", meta.api_key])).hexdigest()[:32]


def request_hash(request: ChatRequest) -> str:
    """A stable hash of everything in the request that can change the answer."""
    if type(request) is not ChatRequest:
        return _other_hash(request)
    sampling = {
        name: float(value) if name in _FLOAT_FIELDS else value
        for name, value in request.sampling().items()
        if name not in _NOT_IN_KEY
    }
    body = {
        "model": request.model,
        "messages": [m.to_openai() for m in request.messages],
        "sampling": sampling,
        "extra_body": _plain(request.extra_body),
    }
    return hashlib.sha256(_canonical(body)).hexdigest()


_STREAM_SWITCHES = frozenset({"stream", "stream_options"})


def _other_hash(request: ChatRequest) -> str:
    raw = raw_of(request)
    if raw is not None:
        body = raw.codec.patched_body(raw, request)
        sent = {k: v for k, v in body.items() if k not in _STREAM_SWITCHES}
        return hashlib.sha256(_canonical([raw.operation, raw.url, sent])).hexdigest()
    operation = "embed" if isinstance(request, EmbedRequest) else type(request).__name__
    body = {
        "operation": operation,
        "model": request.model,
        "messages": [m.to_openai() for m in request.messages],
        "sampling": request.sampling(),
        "extra_body": _plain(request.extra_body),
    }
    return hashlib.sha256(_canonical(body)).hexdigest()


def cache_key(request: ChatRequest, namespace: str) -> str:
    return f"{namespace}:{KEY_VERSION}:{tenant_hash(request)}:{request_hash(request)}"


def local_key(request: ChatRequest, namespace: str) -> Hashable:
    """The same identity as :func:`cache_key`, for a store in this process only: the
    request's own (immutable) parts in a tuple, hashed by Python, no JSON or sha256.
    Falls back to :func:`cache_key` when a part cannot be hashed (a dict in ``tools``),
    and for another operation than chat or a wrapped SDK's request (keyed by what is sent)."""
    if type(request) is not ChatRequest:
        return cache_key(request, namespace)
    meta = request.metadata
    owner = hashlib.sha256(meta.api_key.encode()).hexdigest() if meta.api_key else None
    key = (
        namespace,
        meta.tenant,
        owner,
        request.model,
        request.messages,
        request.max_tokens,
        request.temperature,
        request.top_p,
        request.stop,
        request.seed,
        request.presence_penalty,
        request.frequency_penalty,
        request.tools,
        request.tool_choice,
        request.response_format,
        tuple(sorted(request.extra_body.items())) if request.extra_body else (),
    )
    try:
        return LocalKey(key)
    except TypeError:
        return cache_key(request, namespace)


class LocalKey:
    """A tuple key whose hash is computed once (a dict lookup would re-hash every message)."""

    __slots__ = ("_hash", "parts")

    def __init__(self, parts: tuple[object, ...]) -> None:
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalKey) and other._hash == self._hash and other.parts == self.parts

    def __repr__(self) -> str:
        return f"LocalKey({self._hash:#x})"  # never the request's text


def is_deterministic(request: ChatRequest) -> bool:
    """False for temperature > 0 without a seed. An unset temperature counts as
    deterministic: the caller asked for nothing random (set ``temperature`` to say so)."""
    return request.seed is not None or request.temperature is None or request.temperature <= 0


def is_storable(response: ChatResponse) -> bool:
    """Only complete, unfiltered answers are stored."""
    return not response.flagged and response.finish_reason != "content_filter" and not response.stale


class CacheStoreError(Exception):
    """A store could not be reached or answered garbage. Never leaves the cache layer."""

    quiet = False  # True when the store already knows it is down: not worth another warning


class StoreDownError(CacheStoreError):
    quiet = True


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored answer. Times are wall-clock (``time.time()``) so that processes share them.

    ``fresh_until`` ends normal hits; ``stale_until`` (later) ends stale-if-error serves.
    ``size`` is the entry's encoded size in bytes: what the byte bound counts.
    """

    response: ChatResponse
    stored_at: float
    fresh_until: float
    stale_until: float
    size: int = 0


def _response_dict(response: ChatResponse) -> dict[str, Any]:
    usage = response.usage
    return {
        "id": response.id,
        "text": response.text,
        "finish_reason": response.finish_reason,
        "usage": [
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.estimated,
        ],
        "model": response.model,
        "deployment": response.deployment,
        "tool_calls": _plain(response.tool_calls),
        "cost": response.cost,
        "tier": response.tier,
        "route_reason": response.route_reason,
        **(_kind_fields(response) if type(response) is not ChatResponse else {}),
    }


def _kind_fields(response: ChatResponse) -> dict[str, Any]:
    """What an embeddings answer, or an answer that keeps the provider's own body, adds."""
    if isinstance(response, EmbedResponse):
        return {"kind": "embed", "vectors": [list(v) for v in response.vectors], "raw": _answer(response.raw)}
    if isinstance(response, RawChatResponse):
        return {"kind": "raw", "raw": _answer(response.raw)}
    return {}


def _answer(raw: Any) -> list[Any] | None:
    if not isinstance(raw, RawAnswer) or raw.body is None:
        return None  # a stream's answer keeps no body: a hit is rebuilt from the fields
    return [raw.status, [list(h) for h in raw.headers], raw.body]


def _answer_from(raw: Any) -> RawAnswer | None:
    if raw is None:
        return None
    status, headers, body = raw
    return RawAnswer(int(status), tuple((str(k), str(v)) for k, v in headers), str(body))


def _response_from(raw: Mapping[str, Any]) -> ChatResponse:
    prompt, completion, cached, written, estimated = raw["usage"]
    tool_calls = raw.get("tool_calls")
    kind = raw.get("kind")
    if kind == "embed":
        return EmbedResponse(
            id=str(raw["id"]),
            text="",
            finish_reason=None,
            usage=Usage(int(prompt), int(completion), int(cached), int(written), bool(estimated)),
            model=str(raw["model"]),
            deployment=str(raw.get("deployment") or ""),
            cost=raw.get("cost"),
            vectors=tuple(tuple(float(x) for x in v) for v in raw["vectors"]),
            raw=_answer_from(raw.get("raw")),
        )
    response = ChatResponse(
        id=str(raw["id"]),
        text=str(raw["text"]),
        finish_reason=raw.get("finish_reason"),
        usage=Usage(int(prompt), int(completion), int(cached), int(written), bool(estimated)),
        model=str(raw["model"]),
        deployment=str(raw.get("deployment") or ""),
        tool_calls=tuple(tool_calls) if tool_calls else None,
        cost=raw.get("cost"),
        tier=raw.get("tier"),
        route_reason=raw.get("route_reason"),
    )
    if kind == "raw":
        return RawChatResponse(
            **{f.name: getattr(response, f.name) for f in fields(response)}, raw=_answer_from(raw["raw"])
        )
    return response


def encode(entry: Entry) -> bytes:
    """Versioned JSON (never pickle: a shared Redis must not be able to run code here)."""
    doc = {
        "v": FORMAT_VERSION,
        "stored_at": entry.stored_at,
        "fresh_until": entry.fresh_until,
        "stale_until": entry.stale_until,
        "response": _response_dict(entry.response),
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def decode(data: bytes) -> Entry | None:
    """The entry, or None for another format version. Raises ValueError on garbage."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("v") != FORMAT_VERSION:
            return None
        return Entry(
            response=_response_from(doc["response"]),
            stored_at=float(doc["stored_at"]),
            fresh_until=float(doc["fresh_until"]),
            stale_until=float(doc["stale_until"]),
            size=len(data),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"undecodable cache entry: {type(exc).__name__}") from None


def new_entry(response: ChatResponse, *, now: float, ttl: float, stale_ttl: float) -> Entry:
    """An entry sized by its encoding, so the byte bound counts what Redis would hold."""
    stored = _storable_response(response)
    entry = Entry(stored, stored_at=now, fresh_until=now + ttl, stale_until=now + ttl + stale_ttl)
    return replace(entry, size=len(encode(entry)))


def _storable_response(response: ChatResponse) -> ChatResponse:
    # Per-call fields (latency, attempts, PII counts, ...) belong to the call that paid.
    return _response_from(_response_dict(response))
