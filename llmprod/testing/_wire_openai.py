"""OpenAI's chat-completions wire format (``POST /v1/chat/completions``), JSON and SSE.

Besides the answer it echoes what the request asks of the response's shape, as OpenAI
does: ``n`` choices (choice ``i`` rotates the answer's words by ``i``), ``logprobs`` and
``top_logprobs`` (made-up numbers, one entry a word), ``service_tier``; and it sends
``system_fingerprint`` and a fixed ``created``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._core.models import Usage
from ._wire import Reply, WireError, WireRequest, json_object, required_model, sse

_DONE = b"data: [DONE]\n\n"
CREATED = 1_700_000_000
FINGERPRINT = "fp_fault"


def _variant(text: str, index: int) -> str:
    """Choice ``index``'s text: the answer's words rotated by ``index``."""
    if index == 0:
        return text
    words = text.split(" ")
    shift = index % len(words)
    return " ".join(words[shift:] + words[:shift])


def _logprobs(pieces: list[str], top: int) -> dict[str, Any]:
    def entry(token: str, k: int) -> dict[str, Any]:
        return {"token": token, "logprob": round(-0.125 * (k + 1), 4), "bytes": list(token.encode())}

    content = [
        {**entry(piece, k), "top_logprobs": [entry(piece, k + j) for j in range(top)]} for k, piece in enumerate(pieces)
    ]
    return {"content": content, "refusal": None}


def _shape(body: Mapping[str, Any]) -> tuple[int, bool, int, str]:
    """(choices, logprobs?, top logprobs, service tier) that the request asks for."""
    n = body.get("n")
    top = body.get("top_logprobs")
    tier = body.get("service_tier")
    return (
        n if isinstance(n, int) and n > 0 else 1,
        body.get("logprobs") is True,
        top if isinstance(top, int) and top > 0 else 0,
        tier if isinstance(tier, str) and tier != "auto" else "default",
    )


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
        body = json_object(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError("'messages' must be a non-empty array")
        model = required_model(body)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise WireError("'max_tokens' must be a positive integer")
        n = body.get("n")
        if n is not None and (not isinstance(n, int) or not 1 <= n <= 8):
            raise WireError("'n' must be an integer in [1, 8]")
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
            body=body,
        )

    def completion(self, request: WireRequest, reply: Reply) -> dict[str, Any]:
        n, logprobs, top, tier = _shape(request.body or {})
        choices = []
        for index in range(n):
            text = _variant(reply.text, index)
            message: dict[str, Any] = {"role": "assistant", "content": text if text or not reply.tool_calls else None}
            if reply.tool_calls:
                message["tool_calls"] = [dict(c) for c in reply.tool_calls]
            chosen = _logprobs(Reply(text=text).pieces(), top) if logprobs else None
            choices.append(
                {"index": index, "message": message, "finish_reason": reply.finish_reason, "logprobs": chosen}
            )
        return {
            "id": reply.id,
            "object": "chat.completion",
            "created": CREATED,
            "model": request.model,
            "choices": choices,
            "usage": _usage(reply.counted_usage),
            "service_tier": tier,
            "system_fingerprint": FINGERPRINT,
        }

    def stream(self, request: WireRequest, reply: Reply) -> list[bytes]:
        n, logprobs, top, tier = _shape(request.body or {})
        head = (
            f'{{"id":"{reply.id}","object":"chat.completion.chunk","created":{CREATED},'
            f'"model":{json.dumps(request.model)},"service_tier":"{tier}","system_fingerprint":"{FINGERPRINT}",'
        )
        tail = ',"usage":null}' if request.include_usage else "}"

        def frame(delta: Mapping[str, Any], finish: str | None = None, index: int = 0, piece: str = "") -> bytes:
            choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish}
            if logprobs:
                choice["logprobs"] = _logprobs([piece], top) if piece else None
            return f'data: {head}"choices":[{json.dumps(choice, separators=(",", ":"))}]{tail}\n\n'.encode()

        frames = []
        for choice in range(n):
            frames.extend(self._choice_frames(frame, reply, choice))
        if request.include_usage:
            usage = {"id": reply.id, "object": "chat.completion.chunk", "created": CREATED, "model": request.model}
            extra = {"service_tier": tier, "system_fingerprint": FINGERPRINT}
            frames.append(sse({**usage, **extra, "choices": [], "usage": _usage(reply.counted_usage)}))
        return frames

    def _choice_frames(self, frame: Any, reply: Reply, choice: int) -> list[bytes]:
        frames = [frame({"role": "assistant", "content": ""}, index=choice)]
        frames.extend(
            frame({"content": piece}, index=choice, piece=piece)
            for piece in Reply(text=_variant(reply.text, choice)).pieces()
        )
        for index, call in enumerate(reply.tool_calls or ()):
            fn = call.get("function") or {}
            start = {
                "index": index,
                "id": call.get("id"),
                "type": "function",
                "function": {"name": fn.get("name"), "arguments": ""},
            }
            frames.append(frame({"tool_calls": [start]}, index=choice))
            arguments = str(fn.get("arguments", ""))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                if part:
                    frames.append(
                        frame({"tool_calls": [{"index": index, "function": {"arguments": part}}]}, index=choice)
                    )
        frames.append(frame({}, reply.finish_reason, index=choice))
        return frames

    def done(self) -> list[bytes]:
        return [_DONE]

    def error(self, status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def stream_error(self, message: str, error_type: str | None, code: str | None) -> bytes:
        return sse(self.error(200, message, error_type, code))


WIRE = OpenAIWire()
