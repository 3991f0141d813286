"""OpenAI's chat-completions wire format (``POST /v1/chat/completions``), JSON and SSE."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._core.models import Usage
from ._wire import Reply, WireError, WireRequest, sse

_DONE = b"data: [DONE]\n\n"


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _usage(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return out


def _continued(body: Mapping[str, Any], messages: list[Any]) -> str | None:
    """The assistant text to continue, as vLLM's server reads ``continue_final_message``."""
    if not body.get("continue_final_message"):
        return None
    if body.get("add_generation_prompt", True):
        raise WireError("Cannot set both `continue_final_message` and `add_generation_prompt` to True.")
    last = messages[-1]
    if not isinstance(last, Mapping) or last.get("role") != "assistant":
        raise WireError("continue_final_message needs the final message to be the assistant's")
    return _text(last.get("content"))


class OpenAIWire:
    """Speaks ``/v1/chat/completions`` as OpenAI (and vLLM, TGI, Ollama) do."""

    name = "openai"
    path = "/v1/chat/completions"

    def parse(self, body: Any) -> WireRequest:
        if not isinstance(body, Mapping):
            raise WireError("the request body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError("'messages' must be a non-empty array")
        model = body.get("model")
        if not isinstance(model, str):
            raise WireError("'model' is required")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise WireError("'max_tokens' must be a positive integer")
        options = body.get("stream_options") or {}
        prefix = _continued(body, messages)
        asked = messages[:-1] if prefix is not None else messages
        return WireRequest(
            model=model,
            prompt="\n".join(_text(m.get("content")) for m in asked if isinstance(m, Mapping)),
            max_tokens=max_tokens,
            stream=bool(body.get("stream")),
            include_usage=bool(isinstance(options, Mapping) and options.get("include_usage")),
            message_count=len(messages),
            tools=body.get("tools"),
            prefix=prefix,
        )

    def completion(self, request: WireRequest, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if reply.text or not reply.tool_calls else None,
        }
        if reply.tool_calls:
            message["tool_calls"] = [dict(c) for c in reply.tool_calls]
        return {
            "id": reply.id,
            "object": "chat.completion",
            "created": 0,
            "model": request.model,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": _usage(reply.counted_usage),
        }

    def stream(self, request: WireRequest, reply: Reply) -> list[bytes]:
        head = f'{{"id":"{reply.id}","object":"chat.completion.chunk","created":0,"model":{json.dumps(request.model)},'
        tail = ',"usage":null}' if request.include_usage else "}"

        def frame(delta: Mapping[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return f'data: {head}"choices":[{json.dumps(choice, separators=(",", ":"))}]{tail}\n\n'.encode()

        frames = [frame({"role": "assistant", "content": ""})]
        frames.extend(frame({"content": piece}) for piece in reply.pieces())
        for index, call in enumerate(reply.tool_calls or ()):
            fn = call.get("function") or {}
            start = {
                "index": index,
                "id": call.get("id"),
                "type": "function",
                "function": {"name": fn.get("name"), "arguments": ""},
            }
            frames.append(frame({"tool_calls": [start]}))
            arguments = str(fn.get("arguments", ""))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                if part:
                    frames.append(frame({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
        frames.append(frame({}, reply.finish_reason))
        if request.include_usage:
            usage = {"id": reply.id, "object": "chat.completion.chunk", "created": 0, "model": request.model}
            frames.append(sse({**usage, "choices": [], "usage": _usage(reply.counted_usage)}))
        return frames

    def done(self) -> list[bytes]:
        return [_DONE]

    def error(self, status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def stream_error(self, message: str, error_type: str | None, code: str | None) -> bytes:
        return sse(self.error(200, message, error_type, code))


WIRE = OpenAIWire()
