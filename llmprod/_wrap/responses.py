"""OpenAI's Responses API (``POST .../responses``), for ``llmprod.wrap``.

The view reads ``instructions`` (as a system message) and ``input`` (a string, or its
items: messages' text parts, function-call arguments and outputs), the model,
``max_output_tokens``, ``temperature`` and ``top_p``; everything else is sent as the SDK
wrote it. The view answer is the output's text, its function calls and the usage.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .._core.call import Operation
from .._core.errors import MalformedResponseError
from .._core.models import ChatChunk, ChatResponse, Message, StreamAssembler, Usage
from .._core.raw import Event, RawRequest
from ..backends.openai import read_error, stream_error
from .codec import BaseCodec, Group, Slot, dumps, integer, number, text_slot


class _State:
    def __init__(self, deployment: str, model: str) -> None:
        self.assembler = StreamAssembler(model=model, deployment=deployment)
        self.deployment = deployment
        self.tools: dict[int, int] = {}  # output index -> tool call index
        self.response: ChatResponse | None = None


class ResponsesCodec(BaseCodec):
    operation: Operation = "responses"

    def groups(self, body: Any) -> list[Group]:
        groups: list[Group] = []
        if isinstance(body.get("instructions"), str):
            groups.append(("system", [(body, "instructions")]))
        raw = body.get("input")
        if isinstance(raw, str):
            groups.append(("user", [(body, "input")]))
            return groups
        for item in raw if isinstance(raw, list) else ():
            slots: list[Slot] = []
            if not isinstance(item, dict):
                groups.append(("user", slots))
                continue
            kind = item.get("type")
            content = item.get("content")
            if isinstance(content, str):
                slots.append((item, "content"))
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and "text" in part:
                        text_slot(part, "text", slots)
            elif kind == "function_call_output" and "output" in item:
                text_slot(item, "output", slots)
            elif kind == "function_call" and "arguments" in item:
                text_slot(item, "arguments", slots)
            role = item.get("role") or ("tool" if kind == "function_call_output" else "assistant")
            groups.append((str(role) if kind != "function_call" else "assistant", slots))
        return groups

    def view(self, body: Mapping[str, Any], messages: tuple[Message, ...]) -> dict[str, Any]:
        return {
            "model": body.get("model") if isinstance(body.get("model"), str) else None,
            "max_tokens": integer(body, "max_output_tokens"),
            "temperature": number(body, "temperature"),
            "top_p": number(body, "top_p"),
        }

    def parse(self, data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
        if data.get("error"):
            raise _error(data["error"], deployment)
        output = data.get("output")
        if not isinstance(output, list):
            raise MalformedResponseError("response has no output list", deployment=deployment)
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for item in output:
            if not isinstance(item, Mapping):
                continue
            if item.get("type") == "message":
                texts.extend(
                    str(p.get("text", "")) for p in item.get("content") or () if p.get("type") == "output_text"
                )
            elif item.get("type") == "function_call":
                function = {"name": item.get("name"), "arguments": item.get("arguments") or ""}
                calls.append({"id": item.get("call_id"), "type": "function", "function": function})
        incomplete = data.get("incomplete_details")
        if data.get("status") == "incomplete" and isinstance(incomplete, Mapping):
            finish = "length" if incomplete.get("reason") == "max_output_tokens" else "content_filter"
        else:
            finish = "tool_calls" if calls else "stop"
        return ChatResponse(
            id=str(data.get("id") or ""),
            text="".join(texts),
            finish_reason=finish,
            usage=_usage(data.get("usage")),
            model=str(data.get("model") or model),
            deployment=deployment,
            tool_calls=tuple(calls) or None,
        )

    def start(self, *, deployment: str, model: str) -> _State:
        return _State(deployment, model)

    def feed(self, state: _State, event: str | None, data: Mapping[str, Any]) -> ChatChunk:
        kind = data.get("type", event)
        if kind == "response.output_text.delta":
            text = str(data.get("delta") or "")
            state.assembler.add_text(text)
            return ChatChunk(text=text)
        if kind == "response.output_item.added":
            item = data.get("item")
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                index = state.tools.setdefault(int(data.get("output_index") or 0), len(state.tools))
                function = {"name": item.get("name"), "arguments": ""}
                delta = {"index": index, "id": item.get("call_id"), "type": "function", "function": function}
                state.assembler.add_tool_call_delta(delta)
                return ChatChunk(tool_calls=(delta,))
        elif kind == "response.function_call_arguments.delta":
            known = state.tools.get(int(data.get("output_index") or 0))
            if known is not None:
                delta = {"index": known, "function": {"arguments": str(data.get("delta") or "")}}
                state.assembler.add_tool_call_delta(delta)
                return ChatChunk(tool_calls=(delta,))
        elif kind in ("response.completed", "response.incomplete"):
            response = data.get("response")
            if isinstance(response, Mapping):
                state.response = self.parse(response, deployment=state.deployment, model=state.assembler.model)
        elif kind == "response.failed":
            response = data.get("response")
            error = response.get("error") if isinstance(response, Mapping) else None
            raise _error(error or {"message": "response failed"}, state.deployment)
        elif kind == "error":
            raise _error(data, state.deployment)
        return ChatChunk()

    def ended(self, state: _State) -> bool:
        return state.response is not None

    def final(self, state: _State) -> ChatResponse:
        assert state.response is not None
        return state.response

    def read_error(self, status: int, body: Any, text: str) -> tuple[str, str | None]:
        return read_error(status, body, text)

    def retext(self, data: dict[str, Any], text: str) -> None:
        if data.get("type") == "response.output_text.delta":
            data["delta"] = text

    def patch_answer(self, data: dict[str, Any], response: ChatResponse) -> None:
        parts = [
            part
            for item in data.get("output") or ()
            if item.get("type") == "message"
            for part in item.get("content") or ()
            if part.get("type") == "output_text"
        ]
        for i, part in enumerate(parts):
            part["text"] = response.text if i == 0 else ""

    def body_of(self, response: ChatResponse, raw: RawRequest) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if response.text or not response.tool_calls:
            part = {"type": "output_text", "text": response.text, "annotations": []}
            message = {"type": "message", "role": "assistant", "status": "completed", "content": [part]}
            output.append({"id": f"msg_{response.id}", **message})
        for n, call in enumerate(response.tool_calls or ()):
            function = call.get("function") or {}
            output.append(
                {
                    "type": "function_call",
                    "id": f"fc_{response.id}_{n}",
                    "call_id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments") or "",
                    "status": "completed",
                }
            )
        usage = response.usage
        length = response.finish_reason == "length"
        body = raw.body
        return {
            "id": response.id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "incomplete" if length else "completed",
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if length else None,
            "instructions": body.get("instructions"),
            "model": response.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "temperature": body.get("temperature"),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_p": body.get("top_p"),
            "usage": {
                "input_tokens": usage.prompt_tokens,
                "input_tokens_details": {"cached_tokens": usage.cached_tokens},
                "output_tokens": usage.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.total_tokens,
            },
        }

    def events_of(self, body: Mapping[str, Any], raw: RawRequest) -> list[Event]:
        started = {**body, "status": "in_progress", "output": [], "usage": None}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": started},
            {"type": "response.in_progress", "response": started},
        ]
        for index, item in enumerate(body.get("output") or ()):
            where = {"output_index": index}
            if item.get("type") == "message":
                parts = item.get("content") or []
                events.append({"type": "response.output_item.added", **where, "item": {**item, "content": []}})
                for c, part in enumerate(parts):
                    at = {"item_id": item.get("id"), **where, "content_index": c}
                    events.append({"type": "response.content_part.added", **at, "part": {**part, "text": ""}})
                    text = part.get("text", "")
                    events.append({"type": "response.output_text.delta", **at, "delta": text, "logprobs": []})
                    events.append({"type": "response.output_text.done", **at, "text": text, "logprobs": []})
                    events.append({"type": "response.content_part.done", **at, "part": part})
            elif item.get("type") == "function_call":
                events.append({"type": "response.output_item.added", **where, "item": {**item, "arguments": ""}})
                at = {"item_id": item.get("id"), **where}
                arguments = item.get("arguments", "")
                events.append({"type": "response.function_call_arguments.delta", **at, "delta": arguments})
                events.append({"type": "response.function_call_arguments.done", **at, "arguments": arguments})
            else:
                events.append({"type": "response.output_item.added", **where, "item": item})
            events.append({"type": "response.output_item.done", **where, "item": item})
        finished = "response.incomplete" if body.get("status") == "incomplete" else "response.completed"
        events.append({"type": finished, "response": body})
        return [(e["type"], dumps({**e, "sequence_number": n}).decode()) for n, e in enumerate(events)]

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, Mapping):
        return Usage()
    details = raw.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else 0
    count = [raw.get("input_tokens"), raw.get("output_tokens"), cached]
    prompt, completion, read = (v if isinstance(v, int) and not isinstance(v, bool) else 0 for v in count)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=read)


def _error(error: Any, deployment: str) -> Exception:
    error = error if isinstance(error, Mapping) else {}
    kind = error.get("type") or error.get("code")
    return stream_error({"error": {"message": error.get("message") or "", "type": kind}}, deployment=deployment)


RESPONSES = ResponsesCodec()
