"""Anthropic's Messages API (``POST /v1/messages``), for ``llmprod.wrap(anthropic.Anthropic())``.

The view reads ``system``, each message's text blocks and tool results' text, the model,
``max_tokens``, ``temperature``, ``top_p`` and ``stop_sequences``; everything else
(``top_k``, ``metadata``, ``tools``, ``thinking``, ...) is sent as the SDK wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._core.call import Operation
from .._core.models import ChatChunk, ChatResponse, Message, StreamAssembler
from .._core.raw import Event, RawRequest
from ..backends.anthropic import FINISH_REASONS, _StreamState, parse_message, read_error
from .codec import BaseCodec, Group, Slot, dumps, integer, number, stops, text_slot

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def _blocks(content: Any, slots: list[Slot]) -> None:
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and "text" in block:
            text_slot(block, "text", slots)
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                slots.append((block, "content"))
            else:
                _blocks(inner, slots)


class MessagesCodec(BaseCodec):
    operation: Operation = "chat"

    def groups(self, body: Any) -> list[Group]:
        groups: list[Group] = []
        system = body.get("system")
        if isinstance(system, str):
            groups.append(("system", [(body, "system")]))
        elif isinstance(system, list):
            slots: list[Slot] = []
            _blocks(system, slots)
            groups.append(("system", slots))
        for message in body.get("messages") or ():
            if not isinstance(message, dict):
                continue
            slots = []
            if isinstance(message.get("content"), str):
                slots.append((message, "content"))
            else:
                _blocks(message.get("content"), slots)
            groups.append((str(message.get("role") or "user"), slots))
        return groups

    def view(self, body: Mapping[str, Any], messages: tuple[Message, ...]) -> dict[str, Any]:
        return {
            "model": body.get("model") if isinstance(body.get("model"), str) else None,
            "max_tokens": integer(body, "max_tokens"),
            "temperature": number(body, "temperature"),
            "top_p": number(body, "top_p"),
            "stop": stops(body.get("stop_sequences")),
        }

    def parse(self, data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
        return parse_message(data, deployment=deployment, model=model)

    def start(self, *, deployment: str, model: str) -> _StreamState:
        return _StreamState(StreamAssembler(model=model, deployment=deployment), deployment)

    def feed(self, state: _StreamState, event: str | None, data: Mapping[str, Any]) -> ChatChunk:
        chunks = state.feed(str(data.get("type") or event), data)
        if not chunks:
            return ChatChunk()
        if len(chunks) == 1:
            return chunks[0]
        calls = tuple(c for chunk in chunks for c in chunk.tool_calls or ())
        return ChatChunk(text="".join(c.text for c in chunks), tool_calls=calls or None)

    def ended(self, state: _StreamState) -> bool:
        return state.stopped

    def final(self, state: _StreamState) -> ChatResponse:
        return state.assembler.response()

    def read_error(self, status: int, body: Any, text: str) -> tuple[str, str | None]:
        return read_error(status, body, text)

    def retext(self, data: dict[str, Any], text: str) -> None:
        delta = data.get("delta")
        if data.get("type") == "content_block_delta" and isinstance(delta, dict) and delta.get("type") == "text_delta":
            delta["text"] = text
        block = data.get("content_block")
        if data.get("type") == "content_block_start" and isinstance(block, dict) and block.get("type") == "text":
            block["text"] = text

    def patch_answer(self, data: dict[str, Any], response: ChatResponse) -> None:
        texts = [b for b in data.get("content") or () if b.get("type") == "text"]
        for i, block in enumerate(texts):
            block["text"] = response.text if i == 0 else ""
        if not texts and response.text:
            data.setdefault("content", []).insert(0, {"type": "text", "text": response.text})
        if response.finish_reason == "content_filter":
            data["stop_reason"] = "refusal"

    def body_of(self, response: ChatResponse, raw: RawRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": response.text}] if response.text else []
        for call in response.tool_calls or ():
            function = call.get("function") or {}
            arguments = function.get("arguments") or "{}"
            try:
                given = json.loads(arguments)
            except ValueError:
                given = {}
            content.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": given})
        usage = response.usage
        reason = response.finish_reason or "stop"
        fresh = max(usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens, 0)
        return {
            "id": response.id,
            "type": "message",
            "role": "assistant",
            "model": response.model,
            "content": content,
            "stop_reason": _STOP_REASONS.get(reason, reason if reason in FINISH_REASONS else "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": fresh,
                "cache_creation_input_tokens": usage.cache_write_tokens,
                "cache_read_input_tokens": usage.cached_tokens,
                "output_tokens": usage.completion_tokens,
            },
        }

    def events_of(self, body: Mapping[str, Any], raw: RawRequest) -> list[Event]:
        usage = body.get("usage") or {}
        start = {**body, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 0}}
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        for index, block in enumerate(body.get("content") or ()):
            if block.get("type") == "text":
                events.append({"type": "content_block_start", "index": index, "content_block": {**block, "text": ""}})
                delta: dict[str, Any] = {"type": "text_delta", "text": block.get("text", "")}
            else:
                events.append({"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}})
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
            events.append({"type": "content_block_stop", "index": index})
        ending = {"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")}
        events.append(
            {"type": "message_delta", "delta": ending, "usage": {"output_tokens": usage.get("output_tokens")}}
        )
        events.append({"type": "message_stop"})
        return [(e["type"], dumps(e).decode()) for e in events]

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error_type or "api_error", "message": message}}


MESSAGES = MessagesCodec()
