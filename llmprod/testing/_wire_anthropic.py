"""Anthropic's Messages API wire format (``POST /v1/messages``), JSON and SSE.

As strict as the real API where a backend could get the translation wrong:
``max_tokens`` is required and ``system`` belongs at the top level, not in
``messages``. ``message_stop`` is the terminal frame (``Fault.no_done()`` leaves it
out). Neutral finish reasons and error types are translated to Anthropic's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._core.models import Usage
from ._wire import Reply, WireError, WireRequest, json_object, required_model, sse

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    }
)
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP = sse({"type": "message_stop"}, event="message_stop")


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            parts.append(_text(block.get("content")))
    return "".join(parts)


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": max(usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens, 0),
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
    }


def _error_type(status: int | None, error_type: str | None) -> str:
    if error_type in _TYPES:
        return error_type
    if status is not None and status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error"


def _tool_uses(reply: Reply) -> list[dict[str, Any]]:
    blocks = []
    for call in reply.tool_calls or ():
        fn = call.get("function") or {}
        arguments = json.loads(fn.get("arguments") or "{}")
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": arguments})
    return blocks


class AnthropicWire:
    """Speaks ``/v1/messages`` as Anthropic does (API version 2023-06-01)."""

    name = "anthropic"
    path = "/v1/messages"

    def parse(self, body: Any) -> WireRequest:
        body = json_object(body)
        model = required_model(body, "model: Field required")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise WireError("max_tokens: Field required (a positive integer)")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError("messages: at least one message is required")
        for message in messages:
            role = message.get("role") if isinstance(message, Mapping) else None
            if role not in ("user", "assistant"):
                raise WireError(f'messages: Unexpected role "{role}"; use the top-level system parameter')
        system = body.get("system")
        texts = [_text(system)] if system else []
        prefix = None
        if messages[-1].get("role") == "assistant":  # a prefill: the answer continues it
            prefix = _text(messages[-1].get("content"))
            if prefix != prefix.rstrip():
                raise WireError("messages: final assistant content cannot end with trailing whitespace")
        texts.extend(_text(m.get("content")) for m in (messages[:-1] if prefix is not None else messages))
        return WireRequest(
            model=model,
            prompt="\n".join(texts),
            max_tokens=max_tokens,
            stream=bool(body.get("stream")),
            message_count=len(messages) + (1 if system else 0),
            tools=body.get("tools"),
            prefix=prefix,
        )

    def completion(self, request: WireRequest, reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content.extend(_tool_uses(reply))
        return {
            "id": reply.id,
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": content,
            "stop_reason": _STOP_REASONS.get(reply.finish_reason, reply.finish_reason),
            "stop_sequence": None,
            "usage": _usage(reply.counted_usage),
        }

    def stream(self, request: WireRequest, reply: Reply) -> list[bytes]:
        usage = _usage(reply.counted_usage)
        start: dict[str, Any] = {
            "id": reply.id,
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        frames = [sse({"type": "message_start", "message": start}, event="message_start")]
        frames.append(sse({"type": "ping"}, event="ping"))
        index = 0
        if reply.text:
            frames.append(_block_start(index, {"type": "text", "text": ""}))
            for piece in reply.pieces():
                frames.append(_block_delta(index, {"type": "text_delta", "text": piece}))
            frames.append(_block_stop(index))
            index += 1
        for block in _tool_uses(reply):
            frames.append(_block_start(index, {**block, "input": {}}))
            arguments = json.dumps(block["input"], separators=(",", ":"))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                frames.append(_block_delta(index, {"type": "input_json_delta", "partial_json": part}))
            frames.append(_block_stop(index))
            index += 1
        delta = {"stop_reason": _STOP_REASONS.get(reply.finish_reason, reply.finish_reason), "stop_sequence": None}
        end = {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}}
        frames.append(sse(end, event="message_delta"))
        return frames

    def done(self) -> list[bytes]:
        return [_STOP]

    def error(self, status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": _error_type(status, error_type), "message": message},
            "request_id": "req_fault",
        }

    def stream_error(self, message: str, error_type: str | None, code: str | None) -> bytes:
        body = {"type": "error", "error": {"type": _error_type(None, error_type), "message": message}}
        return sse(body, event="error")


def _block_start(index: int, block: Mapping[str, Any]) -> bytes:
    return sse({"type": "content_block_start", "index": index, "content_block": block}, event="content_block_start")


def _block_delta(index: int, delta: Mapping[str, Any]) -> bytes:
    return sse({"type": "content_block_delta", "index": index, "delta": delta}, event="content_block_delta")


def _block_stop(index: int) -> bytes:
    return sse({"type": "content_block_stop", "index": index}, event="content_block_stop")


WIRE = AnthropicWire()
