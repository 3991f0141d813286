"""Turn a caller's arguments into a validated :class:`ChatRequest`.

Every check happens here, before any layer runs, so bad input is refused with an
:class:`InvalidRequestError` naming the field and nothing is ever sent. That includes
what would only fail on the way out: text that is not valid UTF-8 (a lone surrogate),
and values JSON cannot carry (NaN, infinities, sets, bytes, objects) anywhere in the
tools, tool calls, content parts, ``response_format`` or ``extra_body``.

Messages say what was wrong with a value, never the value itself: a role or a model
name may be someone's e-mail address, and a field may hold a key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._safety.secrets import scrub_secrets
from .errors import InvalidRequestError
from .models import ROLES, CacheControl, ChatRequest, Message, RequestMetadata

MAX_TOKENS_CEILING = 1_000_000
MAX_DEPTH = 64  # JSON nesting; deeper (or a structure that contains itself) is refused
_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


def _shown(key: object) -> bool:
    """Whether a mapping key may appear in an error: a field name, not something key-shaped."""
    return isinstance(key, str) and _PLAIN_KEY.fullmatch(key) is not None and scrub_secrets(key) == key


def _kind(value: object) -> str:
    return type(value).__name__


def _utf8(text: str, field: str) -> str:
    """``text`` if it can be sent as UTF-8 (no lone surrogates)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequestError("contains a lone surrogate: not valid UTF-8 text", field=field) from None
    return text


def _string(value: object, field: str, *, optional: bool = True, empty: bool = True) -> str | None:
    """A string (valid UTF-8), or None when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not empty and not value):
        wanted = "a non-empty string" if not empty else "a string"
        raise InvalidRequestError(f"must be {wanted}, got {_kind(value)}", field=field)
    return _utf8(value, field)


def _key(key: object, field: str) -> str:
    """``field`` extended by ``key``, shown only when it looks like a field name."""
    return f"{field}.{key}" if _shown(key) else f"{field}[...]"


def _json(value: Any, field: str, depth: int = 0) -> Any:
    """``value`` if JSON can carry it exactly: finite numbers, UTF-8 strings, lists, string keys."""
    if depth > MAX_DEPTH:
        raise InvalidRequestError(f"is nested more than {MAX_DEPTH} levels deep (or contains itself)", field=field)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _utf8(value, field)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequestError("contains NaN or an infinity, which JSON cannot carry", field=field)
        return value
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                _utf8(key, field)
            elif isinstance(key, bool) or not isinstance(key, int):  # ints: logit_bias token ids
                raise InvalidRequestError(f"has a key of type {_kind(key)}; JSON keys are strings", field=field)
            _json(item, _key(key, field), depth + 1)
        return value
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _json(item, f"{field}[{i}]", depth + 1)
        return value
    raise InvalidRequestError(f"contains a value of type {_kind(value)}, which JSON cannot carry", field=field)


def _message(raw: object, index: int) -> Message:
    where = f"messages[{index}]"
    if isinstance(raw, Message):
        raw = raw.to_openai()
    if not isinstance(raw, Mapping):
        raise InvalidRequestError(f"must be a mapping with 'role' and 'content', got {_kind(raw)}", field=where)
    unknown = [k for k in raw if k not in _MESSAGE_KEYS]
    if unknown:
        shown = sorted(repr(k) if _shown(k) else f"a {_kind(k)}" for k in unknown)
        raise InvalidRequestError(f"unknown keys {', '.join(shown)}; expected {sorted(_MESSAGE_KEYS)}", field=where)
    role = raw.get("role")
    if not isinstance(role, str) or role not in ROLES:
        got = "an unknown string" if isinstance(role, str) else _kind(role)
        raise InvalidRequestError(f"must be one of {sorted(ROLES)}, got {got}", field=f"{where}.role")
    content = raw.get("content")
    tool_calls = raw.get("tool_calls")
    if tool_calls is not None:
        if isinstance(tool_calls, str | bytes) or not isinstance(tool_calls, Sequence):
            raise InvalidRequestError(
                f"must be a list of tool calls, got {_kind(tool_calls)}", field=f"{where}.tool_calls"
            )
        for j, call in enumerate(tool_calls):
            if not isinstance(call, Mapping):
                raise InvalidRequestError(f"must be a mapping, got {_kind(call)}", field=f"{where}.tool_calls[{j}]")
            _json(call, f"{where}.tool_calls[{j}]")
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
            _json(part, f"{where}.content[{j}]")
        content = tuple(_frozen(p) for p in content)
    elif isinstance(content, str):
        _utf8(content, f"{where}.content")
    else:
        raise InvalidRequestError(
            f"must be a string or a list of parts, got {_kind(content)}", field=f"{where}.content"
        )
    tool_call_id = _string(raw.get("tool_call_id"), f"{where}.tool_call_id")
    if role == "tool" and not tool_call_id:
        raise InvalidRequestError("is required for a tool message", field=f"{where}.tool_call_id")
    name = _string(raw.get("name"), f"{where}.name")
    return Message(
        role=role,  # type: ignore[arg-type]
        content=content,
        name=name,
        tool_calls=tuple(_frozen(c) for c in tool_calls) if tool_calls else None,
        tool_call_id=tool_call_id,
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
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"must be a number, got {_kind(value)}", field=name)
    if math.isnan(value) or not low <= value <= high:
        raise InvalidRequestError(f"must be within [{low}, {high}], got {value!r}", field=name)
    return float(value)


def _integer(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidRequestError(f"must be an integer, got {_kind(value)}", field=name)


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
        name = sorted(map(str, unknown))[0]
        raise InvalidRequestError("unknown argument; provider-specific fields go in extra_body={...}", field=name)
    if prompt is not None and messages is not None:
        raise InvalidRequestError("pass a prompt or messages, not both", field="messages")
    if prompt is not None:
        _string(prompt, "prompt")
        raw: list[Mapping[str, Any] | Message] = [{"role": "user", "content": prompt}]
    elif messages is not None:
        if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
            raise InvalidRequestError("must be a list of messages", field="messages")
        raw = list(messages)
    else:
        raise InvalidRequestError("is empty: pass a prompt or a list of messages", field="messages")
    if system is not None:
        _string(system, "system")
        raw.insert(0, {"role": "system", "content": system})
    if not raw:
        raise InvalidRequestError("is empty", field="messages")
    if prompt is not None and system is None:
        built: tuple[Message, ...] = (Message("user", prompt),)  # checked above: the common case, built directly
    else:
        built = tuple(_message(m, i) for i, m in enumerate(raw))

    _integer("max_tokens", max_tokens)
    if max_tokens is not None and not 1 <= max_tokens <= MAX_TOKENS_CEILING:
        raise InvalidRequestError(f"must be within [1, {MAX_TOKENS_CEILING}], got {max_tokens}", field="max_tokens")
    _number("temperature", temperature, 0.0, 2.0)
    _number("top_p", top_p, 0.0, 1.0)
    _number("presence_penalty", presence_penalty, -2.0, 2.0)
    _number("frequency_penalty", frequency_penalty, -2.0, 2.0)
    _integer("seed", seed)
    stops: tuple[str, ...] | None
    if stop is None:
        stops = None
    elif isinstance(stop, str):
        stops = (_utf8(stop, "stop"),)
    elif isinstance(stop, Sequence) and all(isinstance(s, str) for s in stop):
        stops = tuple(_utf8(s, "stop") for s in stop)
    else:
        raise InvalidRequestError("must be a string or a list of strings", field="stop")
    _string(model, "model", empty=False)
    if extra_body is not None:
        if not isinstance(extra_body, Mapping):
            raise InvalidRequestError(f"must be a mapping, got {_kind(extra_body)}", field="extra_body")
        if not all(isinstance(k, str) for k in extra_body):
            raise InvalidRequestError("must have string keys (top-level request fields)", field="extra_body")
        _json(extra_body, "extra_body")
    if tags is not None and not (
        isinstance(tags, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise InvalidRequestError("must map strings to strings", field="tags")
    for tag, label in (tags or {}).items():
        _utf8(tag, "tags")
        _utf8(label, "tags")
    if tools is not None:
        if (
            isinstance(tools, str | bytes)
            or not isinstance(tools, Sequence)
            or not all(isinstance(t, Mapping) for t in tools)
        ):
            raise InvalidRequestError("must be a list of tool definitions", field="tools")
        _json(tools, "tools")
    if tool_choice is not None:
        if not isinstance(tool_choice, str | Mapping):
            raise InvalidRequestError(f"must be a string or a mapping, got {_kind(tool_choice)}", field="tool_choice")
        _json(tool_choice, "tool_choice")
    if response_format is not None:
        if not isinstance(response_format, Mapping):
            raise InvalidRequestError(f"must be a mapping, got {_kind(response_format)}", field="response_format")
        _json(response_format, "response_format")
    for name, given in (("user", user), ("tenant", tenant), ("api_key", api_key), ("slo", slo)):
        _string(given, name)
    for name, given in (("region", region), ("tier", tier)):
        _string(given, name)
    if cache is not None:
        if not isinstance(cache, CacheControl):
            raise InvalidRequestError(f"must be a llmprod.CacheControl, got {_kind(cache)}", field="cache")
        if not isinstance(cache.lookup, bool) or not isinstance(cache.store, bool):
            raise InvalidRequestError("lookup and store must be True or False", field="cache")
        if cache.ttl is not None and (
            isinstance(cache.ttl, bool) or not isinstance(cache.ttl, int | float) or not math.isfinite(cache.ttl)
        ):
            raise InvalidRequestError(f"ttl must be a finite number of seconds, got {_kind(cache.ttl)}", field="cache")

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
        metadata=_NO_METADATA
        if all(v is None for v in (tenant, api_key, user, tags, cache, slo, region, tier))
        else RequestMetadata(
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


_NO_METADATA = RequestMetadata()  # frozen, and never changed in place: shared by every call that sets none
