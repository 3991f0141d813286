"""Cohere's v2 chat API (``POST /v2/chat``) over httpx; no SDK needed.

The v2 request is close to OpenAI's (role/content messages, function tools,
``tool_calls``, ``tool`` messages with ``tool_call_id``); the differences handled here:

- sampling names: ``top_p`` -> ``p``, ``stop`` -> ``stop_sequences``; ``tool_choice``
  ``"required"`` / ``"none"`` -> ``"REQUIRED"`` / ``"NONE"`` (``"auto"`` is the default
  and is not sent; Cohere cannot force one named tool);
- the answer is ``message.content`` (a list of text parts) plus ``message.tool_calls``;
  the stream is server-sent events named by ``type``: ``message-start``,
  ``content-start`` / ``content-delta`` / ``content-end``, ``tool-plan-delta``,
  ``tool-call-start`` / ``tool-call-delta`` / ``tool-call-end``, ``citation-*`` and
  ``message-end`` (carrying ``finish_reason`` and ``usage``);
- finish reasons: ``COMPLETE`` / ``STOP_SEQUENCE`` -> ``stop``, ``MAX_TOKENS`` ->
  ``length``, ``TOOL_CALL`` -> ``tool_calls``; ``ERROR`` raises a retryable
  :class:`ServerError` and ``TIMEOUT`` a :class:`ProviderTimeoutError` (no answer
  came); either case is accepted (older API versions sent lower case);
- usage: Cohere reports ``billed_units`` (what the price applies to) and ``tokens``
  (what the model saw, including its own preamble). :class:`Usage` carries the billed
  units, falling back to the raw tokens when a response has no billed units;
- errors: ``{"message": ...}`` bodies; the status picks the typed error (498, an
  invalid token, is an :class:`AuthenticationError`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._core.errors import (
    AuthenticationError,
    ConfigError,
    InvalidRequestError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
)
from .._core.models import ChatChunk, ChatRequest, ChatResponse, Message, StreamAssembler, Usage, _plain
from .._safety.secrets import scrub_secrets
from . import _checks
from ._http import HttpPool
from ._http_errors import MAX_ERROR_TEXT
from ._json_api import expect_object, open_sse, post_json

DEFAULT_BASE_URL = "https://api.cohere.com"

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "CONTENT_BLOCKED": "content_filter",
    "ERROR_TOXIC": "content_filter",
    "ERROR_LIMIT": "length",
}


class Cohere:
    """A Cohere Command model over the v2 chat API.

    ``api_key`` defaults to ``$CO_API_KEY``, then ``$COHERE_API_KEY``; it is sent as a
    bearer token and never appears in ``repr()``, errors or logs.

    Example::

        client = llmprod.Client(llmprod.Cohere(model="command-a-03-2025"))
        r = client.chat("Summarize: ...", max_tokens=200)
    """

    provider = "cohere"  # OpenTelemetry gen_ai.provider.name

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        region: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float | None = None,
        max_connections: int = 100,
    ) -> None:
        model = _checks.text(model, path="cohere.model")
        from_env = os.environ.get("CO_API_KEY") or os.environ.get("COHERE_API_KEY")
        key = _checks.secret(api_key if api_key is not None else from_env, path="cohere.api_key")
        if not key:
            raise ConfigError("no API key: pass api_key= or set CO_API_KEY", path="cohere.api_key")
        url = _checks.base_url(base_url, path="cohere.base_url")
        if url.basic is not None:
            raise ConfigError(
                "carries a user and password, but the API key is the Authorization header; "
                "put the gateway's credentials in headers= under another name",
                path="cohere.base_url",
            )
        name = _checks.optional_text(name, path="cohere.name")
        sent = _checks.headers(headers, path="cohere.headers")
        _checks.pool(
            "cohere",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            region=region,
        )
        self.model = model
        self.name = name or f"cohere:{model}"
        self.base_url = url.url
        self.region = region
        self._pool = HttpPool(
            base_url=self.base_url,
            headers={
                **sent,
                "authorization": f"Bearer {key}",
                "content-type": "application/json",
                "accept": "application/json",
            },
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
        )

    def __repr__(self) -> str:
        return f"Cohere(model={self.model!r}, name={self.name!r}, base_url={self.base_url!r})"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = self._body(request, stream=False)
        try:
            data = await post_json(self._pool, "/v2/chat", body, deployment=self.name, read_error=read_error)
        except ProviderError as exc:
            raise _invalid_token(exc) from exc.__cause__
        return parse_chat(data, deployment=self.name, model=request.model or self.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        state = _StreamState(StreamAssembler(model=request.model or self.model, deployment=self.name), self.name)
        body = self._body(request, stream=True)
        try:
            async with open_sse(self._pool, "/v2/chat", body, deployment=self.name, read_error=read_error) as events:
                async for event, data in events:
                    for chunk in state.feed(str(data.get("type") or event), data):
                        yield chunk
                    if state.ended:
                        yield state.assembler.final_chunk()
                        return
        except ProviderError as exc:
            raise _invalid_token(exc) from exc.__cause__
        raise ProviderConnectionError("stream ended before message-end", deployment=self.name)

    async def aclose(self) -> None:
        await self._pool.aclose()

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": convert_messages(request.messages),
            "stream": stream,
        }
        simple = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "p": request.top_p,
            "seed": request.seed,
            "presence_penalty": request.presence_penalty,
            "frequency_penalty": request.frequency_penalty,
        }
        body.update({k: v for k, v in simple.items() if v is not None})
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.tools:
            body["tools"] = [dict(_plain(t)) for t in request.tools]
        if request.tool_choice is not None and (choice := convert_tool_choice(request.tool_choice)):
            body["tool_choice"] = choice
        if request.response_format is not None:
            body["response_format"] = convert_response_format(request.response_format)
        body.update(_plain(request.extra_body))
        return body


def _invalid_token(exc: ProviderError) -> ProviderError:
    """498 (Cohere's "invalid token") means what 401 means."""
    if exc.status != 498 or isinstance(exc, AuthenticationError):
        return exc
    return AuthenticationError(exc.message, status=498, deployment=exc.deployment, error_type=exc.error_type)


def read_error(status: int, body: Any, text: str) -> tuple[str, str | None]:
    """``{"id": ..., "message": ...}`` (older bodies: ``{"data": ...}``) -> (message, None)."""
    if isinstance(body, Mapping):
        for key in ("message", "data", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value, None
            if isinstance(value, Mapping) and isinstance(value.get("message"), str):
                return str(value["message"]), _str_or_none(value.get("type"))
    return text.strip(), None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- request translation --------------------------------------------------------


def convert_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        item: dict[str, Any] = {"role": role}
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidRequestError("a tool message needs tool_call_id", field="messages")
            item["tool_call_id"] = message.tool_call_id
            item["content"] = message.text()
        elif message.content is not None:
            item["content"] = message.content if isinstance(message.content, str) else _plain(message.content)
        if message.tool_calls:
            item["tool_calls"] = _plain(message.tool_calls)
        out.append(item)
    return out


def convert_tool_choice(choice: str | Mapping[str, Any]) -> str | None:
    if choice == "auto":
        return None
    if choice in ("required", "none"):
        return str(choice).upper()
    raise InvalidRequestError(
        "Cohere supports tool_choice 'auto', 'required' or 'none', not one named tool", field="tool_choice"
    )


def convert_response_format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's ``json_schema`` wrapper -> Cohere's ``json_object`` with ``json_schema``."""
    kind = response_format.get("type")
    if kind == "json_schema":
        wrapper = response_format.get("json_schema") or {}
        return {"type": "json_object", "json_schema": _plain(wrapper.get("schema", wrapper))}
    return dict(_plain(response_format))


# --- response translation -------------------------------------------------------


def finish_reason(raw: Any, *, deployment: str, error: Any = None) -> str | None:
    """Cohere's finish reason -> ours; ``ERROR`` and ``TIMEOUT`` raise (no answer came)."""
    if raw is None:
        return None
    reason = str(raw).upper()
    if reason == "ERROR":
        detail = f": {scrub_secrets(str(error))[:MAX_ERROR_TEXT]}" if error else ""
        raise ServerError(f"generation failed (finish_reason ERROR){detail}", deployment=deployment)
    if reason == "TIMEOUT":
        raise ProviderTimeoutError("generation timed out (finish_reason TIMEOUT)", deployment=deployment)
    return FINISH_REASONS.get(reason, str(raw).lower())


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, Mapping):
        return None
    for key in ("billed_units", "tokens"):
        counts = raw.get(key)
        if isinstance(counts, Mapping) and ("input_tokens" in counts or "output_tokens" in counts):
            return Usage(
                prompt_tokens=_count(counts.get("input_tokens")),
                completion_tokens=_count(counts.get("output_tokens")),
            )
    return None


def _count(value: Any) -> int:
    # Cohere's schema types token counts as numbers (e.g. 12.0).
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_chat(data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
    """A v2 chat response body -> :class:`ChatResponse`."""
    if "finish_reason" not in data:
        raise MalformedResponseError("response has no finish_reason", deployment=deployment)
    message = expect_object(data.get("message") or {}, deployment=deployment, what="message")
    content = message.get("content") or []
    if not isinstance(content, list):
        raise MalformedResponseError("message.content is not a list", deployment=deployment)
    text = "".join(
        str(part.get("text") or "") for part in content if isinstance(part, Mapping) and part.get("type") == "text"
    )
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise MalformedResponseError("message.tool_calls is not a list", deployment=deployment)
    return ChatResponse(
        id=str(data.get("id") or ""),
        text=text,
        finish_reason=finish_reason(data.get("finish_reason"), deployment=deployment, error=data.get("error")),
        usage=parse_usage(data.get("usage")) or Usage(),
        model=model,
        deployment=deployment,
        tool_calls=tuple(_tool_call(c, deployment) for c in calls) or None,
    )


def _tool_call(raw: Any, deployment: str) -> dict[str, Any]:
    call = expect_object(raw, deployment=deployment, what="tool call")
    fn = call.get("function") or {}
    arguments = fn.get("arguments")
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": fn.get("name"), "arguments": arguments if isinstance(arguments, str) else "{}"},
    }


class _StreamState:
    """Folds Cohere stream events into chunks and the final response."""

    def __init__(self, assembler: StreamAssembler, deployment: str) -> None:
        self.assembler = assembler
        self.deployment = deployment
        self.ended = False

    def feed(self, kind: str, data: Mapping[str, Any]) -> list[ChatChunk]:
        if kind == "message-start":
            self.assembler.id = str(data.get("id") or self.assembler.id)
            return []
        if kind in ("content-start", "content-delta"):
            text = _dig(data, "delta", "message", "content", "text")
            if isinstance(text, str) and text:
                self.assembler.add_text(text)
                return [ChatChunk(text=text)]
            return []
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._tool_call(kind, data)
        if kind == "message-end":
            delta = _mapping(data.get("delta"))
            self.assembler.finish_reason = finish_reason(
                delta.get("finish_reason"), deployment=self.deployment, error=delta.get("error")
            )
            self.assembler.usage = parse_usage(delta.get("usage"))
            self.ended = True
        # content-end, tool-plan-delta, tool-call-end, citation-*: nothing we carry.
        return []

    def _tool_call(self, kind: str, data: Mapping[str, Any]) -> list[ChatChunk]:
        raw = _dig(data, "delta", "message", "tool_calls")
        if not isinstance(raw, Mapping):
            raise MalformedResponseError(f"{kind} event has no tool_calls", deployment=self.deployment)
        index = data.get("index")
        fn = _mapping(raw.get("function"))
        delta: dict[str, Any] = {"index": index if isinstance(index, int) else 0}
        if kind == "tool-call-start":
            delta.update(id=raw.get("id"), type="function")
            delta["function"] = {"name": fn.get("name"), "arguments": str(fn.get("arguments") or "")}
        else:
            delta["function"] = {"arguments": str(fn.get("arguments") or "")}
        self.assembler.add_tool_call_delta(delta)
        return [ChatChunk(tool_calls=(delta,))]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data
