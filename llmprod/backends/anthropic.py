"""Anthropic's Messages API (``POST /v1/messages``) over httpx; no SDK needed.

Translation at the edge, both ways:

- system and developer messages are hoisted into the top-level ``system`` field;
  consecutive messages of one role are merged (the API wants turns to alternate);
- OpenAI-style ``tools`` / ``tool_calls`` / ``tool`` messages become ``tools`` with
  ``input_schema``, ``tool_use`` blocks and ``tool_result`` blocks, and back;
- ``stop_reason`` maps to finish reasons: ``end_turn`` / ``stop_sequence`` -> ``stop``,
  ``max_tokens`` -> ``length``, ``tool_use`` -> ``tool_calls``, ``refusal`` ->
  ``content_filter`` (others pass through unchanged);
- usage: ``prompt_tokens`` counts every input token, as OpenAI's does (fresh input +
  ``cache_read_input_tokens`` + ``cache_creation_input_tokens``); ``cached_tokens`` is
  the cache reads and ``cache_write_tokens`` the cache writes;
- errors: the HTTP status picks the typed error (``overloaded_error`` / 529 is a
  retryable :class:`ServerError`, ``rate_limit_error`` / 429 a
  :class:`RateLimitedError` with ``retry_after``); an ``error`` event inside a 200
  stream maps by its type to the status that type stands for.

``seed``, ``presence_penalty``, ``frequency_penalty`` and ``response_format`` have no
Messages API equivalent and are not sent; ``extra_body`` fields (``top_k``,
``thinking``, ``metadata``...) are sent as given.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._core.config import _integer
from .._core.errors import (
    ConfigError,
    InvalidRequestError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    RateLimitedError,
)
from .._core.models import ChatChunk, ChatRequest, ChatResponse, Message, StreamAssembler, Usage, _plain
from . import _checks
from ._http import HttpPool, status_error
from ._json_api import expect_object, open_sse, post_json

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# The HTTP status each documented error type is sent with, for errors inside a 200 stream.
ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class Anthropic:
    """A Claude model over Anthropic's Messages API.

    ``api_key`` defaults to ``$ANTHROPIC_API_KEY``; it is sent as ``x-api-key`` and
    never appears in ``repr()``, errors or logs. ``max_tokens_default`` is sent when a
    request sets no ``max_tokens`` (the API requires one).

    Example::

        client = llmprod.Client(llmprod.Anthropic(model="claude-sonnet-4-5"))
        r = client.chat("Summarize: ...", max_tokens=200)
    """

    provider = "anthropic"  # OpenTelemetry gen_ai.provider.name

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        anthropic_version: str = DEFAULT_VERSION,
        max_tokens_default: int = 1024,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        region: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float | None = None,
        max_connections: int = 100,
    ) -> None:
        model = _checks.text(model, path="anthropic.model")
        key = _checks.secret(
            api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY"), path="anthropic.api_key"
        )
        if not key:
            raise ConfigError("no API key: pass api_key= or set ANTHROPIC_API_KEY", path="anthropic.api_key")
        url = _checks.base_url(base_url, path="anthropic.base_url")
        version = _checks.headers(
            {"anthropic-version": _checks.text(anthropic_version, path="anthropic.anthropic_version")},
            path="anthropic.anthropic_version",
        )
        _integer("anthropic.max_tokens_default", max_tokens_default)
        name = _checks.optional_text(name, path="anthropic.name")
        sent = _checks.headers(headers, path="anthropic.headers")
        _checks.pool(
            "anthropic",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            region=region,
        )
        if url.basic is not None:  # a gateway in front: the key travels as x-api-key, so no clash
            if _checks.has_header(sent, "authorization"):
                raise ConfigError(
                    "carries a user and password, and an authorization header is set too; pass one",
                    path="anthropic.base_url",
                )
            sent["authorization"] = url.basic
        self.model = model
        self.name = name or f"anthropic:{model}"
        self.base_url = url.url
        self.region = region
        self.max_tokens_default = max_tokens_default
        self._pool = HttpPool(
            base_url=self.base_url,
            headers={
                **sent,
                "x-api-key": key,
                **version,
                "content-type": "application/json",
            },
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
        )

    def __repr__(self) -> str:
        return f"Anthropic(model={self.model!r}, name={self.name!r}, base_url={self.base_url!r})"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = self._body(request, stream=False)
        data = await post_json(self._pool, "/v1/messages", body, deployment=self.name, read_error=read_error)
        return parse_message(data, deployment=self.name, model=request.model or self.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        state = _StreamState(StreamAssembler(model=request.model or self.model, deployment=self.name), self.name)
        body = self._body(request, stream=True)
        async with open_sse(self._pool, "/v1/messages", body, deployment=self.name, read_error=read_error) as events:
            async for event, data in events:
                for chunk in state.feed(str(data.get("type") or event), data):
                    yield chunk
                if state.stopped:
                    yield state.assembler.final_chunk()
                    return
        raise ProviderConnectionError("stream ended before message_stop", deployment=self.name)

    async def aclose(self) -> None:
        await self._pool.aclose()

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        system, messages = convert_messages(request.messages)
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": messages,
            "max_tokens": request.max_tokens or self.max_tokens_default,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.tools:
            body["tools"] = [convert_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = convert_tool_choice(request.tool_choice)
        if request.user:
            body["metadata"] = {"user_id": request.user}
        if stream:
            body["stream"] = True
        body.update(_plain(request.extra_body))
        return body


def read_error(status: int, body: Any, text: str) -> tuple[str, str | None]:
    """``{"type": "error", "error": {"type": ..., "message": ...}}`` -> (message, type)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        return str(error.get("message") or ""), _str_or_none(error.get("type"))
    return text.strip(), None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def stream_error(data: Mapping[str, Any], *, deployment: str) -> ProviderError | RateLimitedError:
    """The typed error for an ``error`` event inside a 200 stream."""
    error = data.get("error")
    message, error_type = read_error(200, {"error": error}, json.dumps(_plain(data)))
    status = ERROR_STATUSES.get(error_type or "", 500)
    return status_error(status, f"in stream: {message}", deployment=deployment, error_type=error_type)


# --- request translation --------------------------------------------------------


def convert_messages(messages: tuple[Message, ...]) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-style messages -> (system text, Anthropic messages with merged turns)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            system.append(message.text())
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if not out:
        raise InvalidRequestError("needs at least one user or assistant message", field="messages")
    return "\n\n".join(s for s in system if s), out


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidRequestError("a tool message needs tool_call_id", field="messages")
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text()}]
    blocks = _content_blocks(message.content)
    for call in message.tool_calls or ():
        fn = call.get("function") or {}
        try:
            arguments = json.loads(fn.get("arguments") or "{}")
        except ValueError as exc:
            raise InvalidRequestError("tool call arguments are not JSON", field="messages") from exc
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": arguments})
    return blocks


def _content_blocks(content: str | tuple[Mapping[str, Any], ...] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "image_url":
            blocks.append(_image_block(part))
        elif part.get("type") == "text" and not part.get("text"):
            continue
        else:
            blocks.append(_plain(part))  # text, and Anthropic-native blocks, as given
    return blocks


def _image_block(part: Mapping[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = str(image.get("url", "") if isinstance(image, Mapping) else image or "")
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media_type = head.removeprefix("data:").split(";")[0]
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def convert_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool -> an Anthropic tool; Anthropic-shaped tools pass through."""
    if tool.get("type") != "function" or "function" not in tool:
        return dict(_plain(tool))
    fn = tool["function"]
    out: dict[str, Any] = {
        "name": fn.get("name"),
        "input_schema": _plain(fn.get("parameters") or {"type": "object", "properties": {}}),
    }
    if fn.get("description"):
        out["description"] = fn["description"]
    return out


def convert_tool_choice(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(choice, str):
        mapped = {"auto": "auto", "required": "any", "any": "any", "none": "none"}.get(choice)
        if mapped is None:
            raise InvalidRequestError("must be 'auto', 'required', 'any', 'none' or a tool", field="tool_choice")
        return {"type": mapped}
    if choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return dict(_plain(choice))


# --- response translation -------------------------------------------------------


def finish_reason(stop_reason: Any) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(str(stop_reason), str(stop_reason))


def parse_usage(raw: Any, previous: Usage | None = None) -> Usage:
    """Anthropic usage -> :class:`Usage`; fields absent from ``raw`` keep ``previous``."""
    base = previous or Usage()
    if not isinstance(raw, Mapping):
        return base
    fresh = _int(raw.get("input_tokens"))
    read = _int(raw.get("cache_read_input_tokens"))
    write = _int(raw.get("cache_creation_input_tokens"))
    cached = read if read is not None else base.cached_tokens
    written = write if write is not None else base.cache_write_tokens
    if fresh is not None:
        prompt = fresh + cached + written
    else:
        prompt = base.prompt_tokens - base.cached_tokens - base.cache_write_tokens + cached + written
    output = _int(raw.get("output_tokens"))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=output if output is not None else base.completion_tokens,
        cached_tokens=cached,
        cache_write_tokens=written,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    arguments = json.dumps(_plain(block.get("input") or {}), separators=(",", ":"))
    return {"id": block.get("id"), "type": "function", "function": {"name": block.get("name"), "arguments": arguments}}


def parse_message(data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
    """A Messages API response body -> :class:`ChatResponse`."""
    content = data.get("content")
    if data.get("type") == "error":
        raise stream_error(data, deployment=deployment)
    if not isinstance(content, list) or "stop_reason" not in data:
        raise MalformedResponseError("response has no content list or stop_reason", deployment=deployment)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for raw in content:
        block = expect_object(raw, deployment=deployment, what="content block")
        if block.get("type") == "text":
            texts.append(str(block.get("text") or ""))
        elif block.get("type") == "tool_use":
            calls.append(_tool_call(block))
    return ChatResponse(
        id=str(data.get("id") or ""),
        text="".join(texts),
        finish_reason=finish_reason(data.get("stop_reason")),
        usage=parse_usage(data.get("usage")),
        model=str(data.get("model") or model),
        deployment=deployment,
        tool_calls=tuple(calls) or None,
    )


class _StreamState:
    """Folds Anthropic stream events into chunks and the final response."""

    def __init__(self, assembler: StreamAssembler, deployment: str) -> None:
        self.assembler = assembler
        self.deployment = deployment
        self.stopped = False
        self._tool_index: dict[int, int] = {}  # content block index -> tool call index

    def feed(self, kind: str, data: Mapping[str, Any]) -> list[ChatChunk]:
        if kind == "message_start":
            message = data.get("message")
            if isinstance(message, Mapping):
                self.assembler.id = str(message.get("id") or self.assembler.id)
                self.assembler.model = str(message.get("model") or self.assembler.model)
                self.assembler.usage = parse_usage(message.get("usage"), self.assembler.usage)
        elif kind == "content_block_start":
            return self._block_start(data)
        elif kind == "content_block_delta":
            return self._block_delta(data)
        elif kind == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
                self.assembler.finish_reason = finish_reason(delta.get("stop_reason"))
            self.assembler.usage = parse_usage(data.get("usage"), self.assembler.usage)
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            raise stream_error(data, deployment=self.deployment)
        # ping, content_block_stop and event types added later carry nothing we use.
        return []

    def _block_start(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        block = expect_object(data.get("content_block"), deployment=self.deployment, what="content_block")
        if block.get("type") == "text" and block.get("text"):
            return [self._text(str(block["text"]))]
        if block.get("type") != "tool_use":
            return []
        index = self._tool_index.setdefault(_block_index(data), len(self._tool_index))
        delta = {"index": index, "id": block.get("id"), "type": "function"}
        delta["function"] = {"name": block.get("name"), "arguments": ""}
        self.assembler.add_tool_call_delta(delta)
        return [ChatChunk(tool_calls=(delta,))]

    def _block_delta(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        delta = expect_object(data.get("delta"), deployment=self.deployment, what="content_block_delta")
        if delta.get("type") == "text_delta":
            text = str(delta.get("text") or "")
            return [self._text(text)] if text else []
        if delta.get("type") == "input_json_delta":
            index = self._tool_index.get(_block_index(data))
            if index is None:
                raise MalformedResponseError(
                    "input_json_delta for an unknown tool_use block", deployment=self.deployment
                )
            call = {"index": index, "function": {"arguments": str(delta.get("partial_json") or "")}}
            self.assembler.add_tool_call_delta(call)
            return [ChatChunk(tool_calls=(call,))]
        return []  # thinking_delta, signature_delta, citations_delta

    def _text(self, text: str) -> ChatChunk:
        self.assembler.add_text(text)
        return ChatChunk(text=text)


def _block_index(data: Mapping[str, Any]) -> int:
    index = data.get("index")
    return index if isinstance(index, int) else 0
