"""OpenAI's Responses API wire format (``POST /v1/responses``), JSON and SSE.

A whole answer is a ``response`` object whose ``output`` holds one ``message`` item
(its ``output_text``) and a ``function_call`` item per tool call. A stream is the
typed events (``response.created`` ... ``response.output_text.delta`` ...
``response.completed``), each with its ``sequence_number``; it has no terminal frame.
An answer cut by ``max_output_tokens`` is ``incomplete``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.models import Usage
from ._wire import Reply, WireError, WireRequest, json_object, required_model, sse

CREATED_AT = 1_700_000_000


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _prompt(body: Mapping[str, Any]) -> tuple[str, int]:
    raw = body.get("input")
    texts = [str(body["instructions"])] if isinstance(body.get("instructions"), str) else []
    if isinstance(raw, str):
        return "\n".join([*texts, raw]), len(texts) + 1
    if not isinstance(raw, list) or not raw:
        raise WireError("'input' must be a string or a non-empty array of items")
    for item in raw:
        if not isinstance(item, Mapping):
            raise WireError("each input item must be an object")
        if "content" in item:
            texts.append(_text(item.get("content")))
        elif item.get("type") == "function_call_output":
            texts.append(str(item.get("output", "")))
    return "\n".join(texts), len(raw)


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _message(reply: Reply, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": []}
    return {
        "type": "message",
        "id": f"msg_{reply.id}",
        "status": status,
        "role": "assistant",
        "content": [part] if status == "completed" or text else [],
    }


def _calls(reply: Reply, arguments: bool = True) -> list[dict[str, Any]]:
    items = []
    for index, call in enumerate(reply.tool_calls or ()):
        fn = call.get("function") or {}
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{reply.id}_{index}",
                "call_id": call.get("id"),
                "name": fn.get("name"),
                "arguments": str(fn.get("arguments", "")) if arguments else "",
                "status": "completed" if arguments else "in_progress",
            }
        )
    return items


class ResponsesWire:
    """Speaks ``/v1/responses`` as OpenAI does."""

    name = "openai-responses"
    path = "/v1/responses"

    def parse(self, body: Any) -> WireRequest:
        body = json_object(body)
        model = required_model(body)
        max_tokens = body.get("max_output_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 16):
            raise WireError("'max_output_tokens' must be an integer >= 16")
        prompt, count = _prompt(body)
        return WireRequest(
            model=model,
            prompt=prompt,
            max_tokens=max_tokens,
            stream=bool(body.get("stream")),
            message_count=count,
            tools=body.get("tools"),
            body=body,
        )

    def _response(self, request: WireRequest, reply: Reply, *, done: bool) -> dict[str, Any]:
        body = request.body or {}
        incomplete = reply.finish_reason == "length"
        status = ("incomplete" if incomplete else "completed") if done else "in_progress"
        output: list[dict[str, Any]] = []
        if done:
            if reply.text or not reply.tool_calls:
                output.append(_message(reply, reply.text, "completed"))
            output.extend(_calls(reply))
        return {
            "id": f"resp_{reply.id}",
            "object": "response",
            "created_at": CREATED_AT,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if done and incomplete else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": request.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "temperature": body.get("temperature", 1.0),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_p": body.get("top_p", 1.0),
            "metadata": body.get("metadata", {}),
            "text": body.get("text", {"format": {"type": "text"}}),
            "usage": _usage(reply.counted_usage) if done else None,
        }

    def completion(self, request: WireRequest, reply: Reply) -> dict[str, Any]:
        return self._response(request, reply, done=True)

    def stream(self, request: WireRequest, reply: Reply) -> list[bytes]:
        events: list[dict[str, Any]] = []
        events.append({"type": "response.created", "response": self._response(request, reply, done=False)})
        events.append({"type": "response.in_progress", "response": self._response(request, reply, done=False)})
        index = 0
        if reply.text or not reply.tool_calls:
            item_id = f"msg_{reply.id}"
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": _message(reply, "", "in_progress"),
                }
            )
            empty = {"type": "output_text", "text": "", "annotations": []}
            events.append({"type": "response.content_part.added", **where, "part": empty})
            for piece in reply.pieces():
                events.append({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
            events.append({"type": "response.output_text.done", **where, "text": reply.text, "logprobs": []})
            part = {"type": "output_text", "text": reply.text, "annotations": []}
            events.append({"type": "response.content_part.done", **where, "part": part})
            item = _message(reply, reply.text, "completed")
            events.append({"type": "response.output_item.done", "output_index": index, "item": item})
            index += 1
        for started, finished in zip(_calls(reply, arguments=False), _calls(reply), strict=True):
            events.append({"type": "response.output_item.added", "output_index": index, "item": started})
            arguments = finished["arguments"]
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                if piece:
                    events.append(
                        {
                            "type": "response.function_call_arguments.delta",
                            "item_id": finished["id"],
                            "output_index": index,
                            "delta": piece,
                        }
                    )
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": finished["id"],
                    "output_index": index,
                    "arguments": arguments,
                }
            )
            events.append({"type": "response.output_item.done", "output_index": index, "item": finished})
            index += 1
        final = self._response(request, reply, done=True)
        events.append({"type": "response.completed" if final["status"] == "completed" else "response.incomplete"})
        events[-1]["response"] = final
        return [sse({**event, "sequence_number": n}, event=event["type"]) for n, event in enumerate(events)]

    def done(self) -> list[bytes]:
        return []

    def error(self, status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def stream_error(self, message: str, error_type: str | None, code: str | None) -> bytes:
        body = {"type": "error", "code": code or error_type, "message": message, "param": None, "sequence_number": 0}
        return sse(body, event="error")


WIRE = ResponsesWire()
