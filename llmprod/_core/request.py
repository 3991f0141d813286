"""Turn a caller's arguments into a validated :class:`ChatRequest`.

Every check happens here, before any layer runs, so bad input is refused with an
:class:`InvalidRequestError` naming the field and nothing is ever sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InvalidRequestError
from .models import ROLES, CacheControl, ChatRequest, Message, RequestMetadata

MAX_TOKENS_CEILING = 1_000_000


def _message(raw: object, index: int) -> Message:
    where = f"messages[{index}]"
    if isinstance(raw, Message):
        raw = raw.to_openai()
    if not isinstance(raw, Mapping):
        raise InvalidRequestError(f"must be a mapping with 'role' and 'content', got {type(raw).__name__}", field=where)
    unknown = set(raw) - {"role", "content", "name", "tool_calls", "tool_call_id"}
    if unknown:
        raise InvalidRequestError(f"unknown keys {sorted(unknown)}", field=where)
    role = raw.get("role")
    if role not in ROLES:
        raise InvalidRequestError(f"unknown role {role!r}; expected one of {sorted(ROLES)}", field=f"{where}.role")
    content = raw.get("content")
    tool_calls = raw.get("tool_calls")
    if content is None:
        if not (role == "assistant" and tool_calls):
            raise InvalidRequestError(
                "is missing (only an assistant turn with tool_calls may omit it)", field=f"{where}.content"
            )
    elif isinstance(content, list | tuple):
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                raise InvalidRequestError(
                    "each content part must be a mapping with a 'type'", field=f"{where}.content[{j}]"
                )
        content = tuple(_frozen(p) for p in content)
    elif not isinstance(content, str):
        raise InvalidRequestError(
            f"must be a string or a list of parts, got {type(content).__name__}", field=f"{where}.content"
        )
    if role == "tool" and not raw.get("tool_call_id"):
        raise InvalidRequestError("is required for a tool message", field=f"{where}.tool_call_id")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidRequestError("must be a string", field=f"{where}.name")
    return Message(
        role=role,
        content=content,
        name=name,
        tool_calls=tuple(_frozen(c) for c in tool_calls) if tool_calls else None,
        tool_call_id=raw.get("tool_call_id"),
    )


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _frozen(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _number(name: str, value: object, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidRequestError(f"must be a number, got {value!r}", field=name)
    if not low <= value <= high:
        raise InvalidRequestError(f"must be within [{low}, {high}], got {value!r}", field=name)
    return float(value)


def build_request(
    prompt: str | None,
    *,
    messages: Sequence[Mapping[str, Any] | Message] | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | Sequence[str] | None = None,
    seed: int | None = None,
    presence_penalty: float | None = None,
    frequency_penalty: float | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
    response_format: Mapping[str, Any] | None = None,
    user: str | None = None,
    extra_body: Mapping[str, Any] | None = None,
    system: str | None = None,
    tenant: str | None = None,
    api_key: str | None = None,
    tags: Mapping[str, str] | None = None,
    cache: CacheControl | None = None,
    slo: str | None = None,
    region: str | None = None,
    tier: str | None = None,
    unknown: Mapping[str, Any] | None = None,
) -> ChatRequest:
    """Validate the arguments of ``chat``/``stream`` and build the request."""
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequestError("unknown argument; provider-specific fields go in extra_body={...}", field=name)
    if prompt is not None and messages is not None:
        raise InvalidRequestError("pass a prompt or messages, not both", field="messages")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise InvalidRequestError(f"must be a string, got {type(prompt).__name__}", field="prompt")
        raw: list[Mapping[str, Any] | Message] = [{"role": "user", "content": prompt}]
    elif messages is not None:
        if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
            raise InvalidRequestError("must be a list of messages", field="messages")
        raw = list(messages)
    else:
        raise InvalidRequestError("is empty: pass a prompt or a list of messages", field="messages")
    if system is not None:
        raw.insert(0, {"role": "system", "content": system})
    if not raw:
        raise InvalidRequestError("is empty", field="messages")
    built = tuple(_message(m, i) for i, m in enumerate(raw))

    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise InvalidRequestError(f"must be an integer, got {max_tokens!r}", field="max_tokens")
        if not 1 <= max_tokens <= MAX_TOKENS_CEILING:
            raise InvalidRequestError(f"must be within [1, {MAX_TOKENS_CEILING}], got {max_tokens}", field="max_tokens")
    _number("temperature", temperature, 0.0, 2.0)
    _number("top_p", top_p, 0.0, 1.0)
    _number("presence_penalty", presence_penalty, -2.0, 2.0)
    _number("frequency_penalty", frequency_penalty, -2.0, 2.0)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidRequestError(f"must be an integer, got {seed!r}", field="seed")
    stops: tuple[str, ...] | None
    if stop is None:
        stops = None
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, Sequence) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise InvalidRequestError("must be a string or a list of strings", field="stop")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidRequestError(f"must be a non-empty string, got {model!r}", field="model")
    if extra_body is not None and not isinstance(extra_body, Mapping):
        raise InvalidRequestError("must be a mapping", field="extra_body")
    if tags is not None and not (
        isinstance(tags, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise InvalidRequestError("must map strings to strings", field="tags")
    if tools is not None and not (isinstance(tools, Sequence) and all(isinstance(t, Mapping) for t in tools)):
        raise InvalidRequestError("must be a list of tool definitions", field="tools")

    return ChatRequest(
        messages=built,
        model=model,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=stops,
        seed=seed,
        presence_penalty=presence_penalty,
        frequency_penalty=frequency_penalty,
        tools=tuple(_frozen(t) for t in tools) if tools is not None else None,
        tool_choice=_frozen(tool_choice),
        response_format=_frozen(response_format),
        user=user,
        extra_body=dict(extra_body or {}),
        metadata=RequestMetadata(
            tenant=tenant,
            api_key=api_key,
            user=user,
            tags=dict(tags or {}),
            cache=cache or CacheControl(),
            slo=slo,
            region=region,
            tier=tier,
        ),
    )
