"""OpenAI's chat completions (``POST .../chat/completions``), for ``llmprod.wrap``.

The view reads the prompt (every message's text parts and tool-call arguments), the
model and the sampling parameters; the rest of the body (``n``, ``logprobs``,
``stream_options``, ``extra_body``, ...) is sent as the SDK wrote it. The view answer is
choice 0 (what PII, the output guard and cost read); the SDK gets every choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.call import Operation
from .._core.models import ChatChunk, ChatResponse, Message, StreamAssembler
from .._core.raw import Event, RawRequest
from ..backends.openai import _fold, parse_completion, read_error, stream_error
from .codec import BaseCodec, Group, Slot, dumps, integer, number, stops, text_slot
from .openai import _completion_dict


class ChatCodec(BaseCodec):
    operation: Operation = "chat"

    def groups(self, body: Any) -> list[Group]:
        groups: list[Group] = []
        for message in body.get("messages") or ():
            if not isinstance(message, dict):
                continue
            slots: list[Slot] = []
            content = message.get("content")
            if isinstance(content, str):
                slots.append((message, "content"))
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and "text" in part:
                        text_slot(part, "text", slots)
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and "arguments" in function:
                    text_slot(function, "arguments", slots)
            groups.append((str(message.get("role") or "user"), slots))
        return groups

    def view(self, body: Mapping[str, Any], messages: tuple[Message, ...]) -> dict[str, Any]:
        tools = body.get("tools")
        return {
            "model": body.get("model") if isinstance(body.get("model"), str) else None,
            "max_tokens": integer(body, "max_completion_tokens") or integer(body, "max_tokens"),
            "temperature": number(body, "temperature"),
            "top_p": number(body, "top_p"),
            "stop": stops(body.get("stop")),
            "seed": integer(body, "seed"),
            "presence_penalty": number(body, "presence_penalty"),
            "frequency_penalty": number(body, "frequency_penalty"),
            "tools": tuple(tools) if isinstance(tools, list) and tools else None,
            "tool_choice": body.get("tool_choice"),
            "response_format": body.get("response_format"),
        }

    def parse(self, data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
        return parse_completion(data, deployment=deployment, model=model)

    def start(self, *, deployment: str, model: str) -> StreamAssembler:
        return StreamAssembler(model=model, deployment=deployment)

    def feed(self, state: StreamAssembler, event: str | None, data: Mapping[str, Any]) -> ChatChunk:
        if event == "error" or "error" in data:
            raise stream_error(data, deployment=state.deployment)
        return _fold(data, state, state.deployment) or ChatChunk()

    def ended(self, state: StreamAssembler) -> bool:
        return state.finish_reason is not None or state.usage is not None

    def final(self, state: StreamAssembler) -> ChatResponse:
        return state.response()

    def read_error(self, status: int, body: Any, text: str) -> tuple[str, str | None]:
        return read_error(status, body, text)

    def retext(self, data: dict[str, Any], text: str) -> None:
        for choice in data.get("choices") or ():
            if choice.get("index", 0) == 0 and isinstance(choice.get("delta"), dict):
                choice["delta"]["content"] = text
                return

    def patch_answer(self, data: dict[str, Any], response: ChatResponse) -> None:
        choice = data["choices"][0]
        message = choice["message"]
        message["content"] = response.text if response.text or not response.tool_calls else None
        if response.tool_calls:
            message["tool_calls"] = [dict(c) for c in response.tool_calls]
        choice["finish_reason"] = response.finish_reason

    def body_of(self, response: ChatResponse, raw: RawRequest) -> dict[str, Any]:
        return _completion_dict(response)

    def events_of(self, body: Mapping[str, Any], raw: RawRequest) -> list[Event]:
        base = {k: body.get(k) for k in ("id", "created", "model") if k in body}
        base["object"] = "chat.completion.chunk"
        base.update({k: body[k] for k in ("service_tier", "system_fingerprint") if body.get(k) is not None})
        events: list[dict[str, Any]] = []
        for choice in body.get("choices") or ():
            message = choice.get("message") or {}
            delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
            if message.get("tool_calls"):
                delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
            index = choice.get("index", 0)
            piece = {"index": index, "delta": delta, "finish_reason": None, "logprobs": choice.get("logprobs")}
            events.append({**base, "choices": [piece]})
            events.append(
                {**base, "choices": [{"index": index, "delta": {}, "finish_reason": choice["finish_reason"]}]}
            )
        options = raw.body.get("stream_options")
        if isinstance(options, Mapping) and options.get("include_usage"):
            events.append({**base, "choices": [], "usage": body.get("usage")})
        return [*((None, dumps(e).decode()) for e in events), (None, "[DONE]")]

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


CHAT = ChatCodec()
