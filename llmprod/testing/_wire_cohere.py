"""Cohere's v2 chat wire format (``POST /v2/chat``), JSON and SSE.

Strict where a backend could get the translation wrong: OpenAI-only parameter
names (``top_p``, ``stop``, ``n``, ``max_completion_tokens``) are refused, as is an
unknown role. The stream has no terminal frame after ``message-end`` (that event
carries the finish reason and usage); an error inside a 200 stream is a
``message-end`` with ``finish_reason`` ``ERROR`` and the ``error`` text. Usage carries
``billed_units`` and, a little larger, the raw ``tokens`` (which count Cohere's own
prompt template).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.models import Usage
from ._wire import Reply, WireError, WireRequest, sse

_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}
_ROLES = frozenset({"system", "user", "assistant", "tool"})
_OPENAI_ONLY = ("top_p", "stop", "n", "max_completion_tokens")
_TEMPLATE_TOKENS = 2  # per message: the raw count includes Cohere's prompt template


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _usage(usage: Usage, messages: int) -> dict[str, Any]:
    billed = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}
    raw = {"input_tokens": usage.prompt_tokens + _TEMPLATE_TOKENS * messages, "output_tokens": usage.completion_tokens}
    return {"billed_units": billed, "tokens": raw}


def _finish(reason: str) -> str:
    return _FINISH.get(reason, reason.upper())


def _event(data: Mapping[str, Any]) -> bytes:
    return sse(data, event=str(data["type"]))


class CohereWire:
    """Speaks ``/v2/chat`` as Cohere does."""

    name = "cohere"
    path = "/v2/chat"

    def parse(self, body: Any) -> WireRequest:
        if not isinstance(body, Mapping):
            raise WireError("invalid request: the body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str):
            raise WireError("invalid request: model is required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError("invalid request: messages must be a non-empty list")
        for message in messages:
            role = message.get("role") if isinstance(message, Mapping) else None
            if role not in _ROLES:
                raise WireError(f"invalid request: unknown message role {role!r}")
        unknown = [name for name in _OPENAI_ONLY if name in body]
        if unknown:
            raise WireError(f"invalid request: unknown field(s) {unknown}")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise WireError("invalid request: max_tokens must be a positive integer")
        return WireRequest(
            model=model,
            prompt="\n".join(_text(m.get("content")) for m in messages),
            max_tokens=max_tokens,
            stream=bool(body.get("stream")),
            message_count=len(messages),
            tools=body.get("tools"),
        )

    def completion(self, request: WireRequest, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant"}
        if reply.text:
            message["content"] = [{"type": "text", "text": reply.text}]
        if reply.tool_calls:
            message["tool_plan"] = "I will call the tools."
            message["tool_calls"] = [dict(c) for c in reply.tool_calls]
        return {
            "id": reply.id,
            "finish_reason": _finish(reply.finish_reason),
            "message": message,
            "usage": _usage(reply.counted_usage, request.message_count),
        }

    def stream(self, request: WireRequest, reply: Reply) -> list[bytes]:
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        frames = [_event({"id": reply.id, "type": "message-start", "delta": {"message": start}})]
        if reply.text:
            text_start: dict[str, Any] = {"message": {"content": {"type": "text", "text": ""}}}
            frames.append(_event({"type": "content-start", "index": 0, "delta": text_start}))
            for piece in reply.pieces():
                delta = {"message": {"content": {"text": piece}}}
                frames.append(_event({"type": "content-delta", "index": 0, "delta": delta}))
            frames.append(_event({"type": "content-end", "index": 0}))
        for index, call in enumerate(reply.tool_calls or ()):
            fn = call.get("function") or {}
            opening = {"id": call.get("id"), "type": "function", "function": {"name": fn.get("name"), "arguments": ""}}
            frames.append(
                _event({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": opening}}})
            )
            arguments = str(fn.get("arguments", ""))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                tool_delta = {"message": {"tool_calls": {"function": {"arguments": part}}}}
                frames.append(_event({"type": "tool-call-delta", "index": index, "delta": tool_delta}))
            frames.append(_event({"type": "tool-call-end", "index": index}))
        end = {
            "finish_reason": _finish(reply.finish_reason),
            "usage": _usage(reply.counted_usage, request.message_count),
        }
        frames.append(_event({"id": reply.id, "type": "message-end", "delta": end}))
        return frames

    def done(self) -> list[bytes]:
        return []

    def error(self, status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
        return {"id": "fault-error", "message": message}

    def stream_error(self, message: str, error_type: str | None, code: str | None) -> bytes:
        return _event({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message}})


WIRE = CohereWire()
