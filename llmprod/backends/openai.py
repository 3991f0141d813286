"""OpenAI's chat completions over httpx, for OpenAI and every OpenAI-compatible server.

One class serves OpenAI itself, vLLM's server, TGI's Messages API, TensorRT-LLM
(``trtllm-serve`` or Triton's OpenAI front end) and Ollama; the servers differ only in
data (:data:`PRESETS`): base URL, whether a key is needed, a fixed model name.

At the edge:

- a request becomes ``{"model", "messages", <sampling>, **extra_body}``; a stream asks
  for ``stream_options: {"include_usage": true}`` so that usage arrives at the end;
- usage keeps ``prompt_tokens_details.cached_tokens``; tool calls pass through (streamed
  tool-call deltas are merged by index);
- an error status maps to a typed error keeping the status, the provider's message and
  ``retry_after``; the body may be OpenAI's ``{"error": {...}}``, TGI's
  ``{"error": "...", "error_type": ...}``, a web framework's ``{"detail": ...}`` or
  ``{"message": ...}``, or plain text;
- an ``error`` object inside a 200 stream raises the typed error for its code or type;
  a stream may end without ``[DONE]``, but one that ends before any finish reason or
  usage was cut: :class:`ProviderConnectionError`;
- invalid JSON or a body of an unexpected shape raises :class:`MalformedResponseError`;
- a server that can continue an assistant message (vLLM's ``continue_final_message``)
  builds the request that resumes a broken stream (:meth:`OpenAICompatible.continuation`).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._core.errors import ConfigError, MalformedResponseError, ProviderConnectionError, ProviderError, RateLimitedError
from .._core.models import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbedRequest,
    EmbedResponse,
    Message,
    StreamAssembler,
    Usage,
    _plain,
)
from . import _checks
from ._http import HttpPool, status_error
from ._json_api import expect_object, open_sse, post_json

if TYPE_CHECKING:
    import httpx

OPENAI_BASE_URL = "https://api.openai.com/v1"
_PATH = "/chat/completions"
_EMBED_PATH = "/embeddings"


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    """Defaults for one kind of OpenAI-compatible server (a data row, not a subclass).

    ``api_key`` is the placeholder sent when the server needs none; ``model`` is the
    name the server expects when it serves one model under a fixed name (TGI: "tgi");
    ``continues``: the server continues a final assistant message on request
    (``continue_final_message``), so a broken stream can be resumed.
    """

    base_url: str
    api_key: str | None = None
    model: str | None = None
    start: str = ""
    continues: bool = False


PRESETS: Mapping[str, Preset] = {
    "openai": Preset(base_url=OPENAI_BASE_URL),
    "vllm": Preset(base_url="http://localhost:8000/v1", api_key="EMPTY", start="vllm serve MODEL", continues=True),
    "tgi": Preset(
        base_url="http://localhost:8080/v1",
        api_key="-",
        model="tgi",
        start="docker run --gpus all -p 8080:80 ghcr.io/huggingface/text-generation-inference --model-id MODEL",
    ),
    "tensorrt-llm": Preset(
        base_url="http://localhost:9000/v1",
        api_key="EMPTY",
        start="python3 openai_frontend/main.py --model-repository REPO --tokenizer MODEL",
    ),
    "trtllm-serve": Preset(base_url="http://localhost:8000/v1", api_key="tensorrt_llm", start="trtllm-serve MODEL"),
    "ollama": Preset(base_url="http://localhost:11434/v1", api_key="ollama", start="ollama serve"),
}


def _is_openai(base_url: str) -> bool:
    return urlsplit(base_url).hostname == "api.openai.com"


class OpenAICompatible:
    """A model behind OpenAI's chat-completions API (OpenAI or a compatible server).

    ``api_key`` falls back to ``$OPENAI_API_KEY`` only when ``base_url`` is OpenAI's; it
    is sent as a bearer token and never appears in ``repr()``, errors or logs.
    ``read_timeout`` None leaves the time bound to the client's attempt timeout.
    ``transport`` is an ``httpx.AsyncBaseTransport`` to put under the pool.

    Example::

        llmprod.OpenAICompatible(model="gpt-4o-mini")                       # OpenAI
        llmprod.OpenAICompatible(base_url="http://gpu-1:8000/v1", model="meta-llama/Llama-3.1-8B-Instruct")
        llmprod.OpenAICompatible.preset("ollama", model="llama3.2")
    """

    provider = "openai"  # OpenTelemetry gen_ai.provider.name; a preset names its server
    _chat_path = _PATH  # under base_url (Azure's carry its api-version)
    _embed_path = _EMBED_PATH
    # Whether the server continues a final assistant message (``continue_final_message``):
    # the vLLM preset sets it; set it on a backend for another server that does (SGLang).
    # OpenAI's own API cannot.
    continues = False

    def __init__(
        self,
        *,
        model: str,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        organization: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float | None = None,
        max_connections: int = 100,
        region: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        model = _checks.text(model, path="openai.model")
        url = _checks.base_url(base_url, path="openai.base_url")
        api_key = _checks.secret(api_key, path="openai.api_key")
        extra = _checks.headers(headers, path="openai.headers")
        name = _checks.optional_text(name, path="openai.name")
        organization = _checks.secret(organization, path="openai.organization")
        _checks.pool(
            "openai",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            region=region,
        )
        if transport is not None and not callable(getattr(transport, "handle_async_request", None)):
            raise ConfigError(
                f"must be an httpx.AsyncBaseTransport, got {type(transport).__name__}", path="openai.transport"
            )
        if api_key is None and _is_openai(url.url):
            api_key = _checks.secret(os.environ.get("OPENAI_API_KEY"), path="OPENAI_API_KEY")
            if not api_key:
                raise ConfigError("no API key: pass api_key= or set OPENAI_API_KEY", path="openai.api_key")
        self.model = model
        self.base_url = url.url
        self.region = region
        where = "openai" if _is_openai(url.url) else url.netloc
        self.name = name or f"{where}:{model}"
        sent = {"content-type": "application/json", **extra}
        if url.basic is not None:
            if api_key or _checks.has_header(extra, "authorization"):
                raise ConfigError(
                    "carries a user and password, and an API key (or an authorization header) is set too: "
                    "both would be the Authorization header; pass one (api_key=None for a server that needs none)",
                    path="openai.base_url",
                )
            sent["authorization"] = url.basic
        if api_key:
            sent["authorization"] = f"Bearer {api_key}"
        if organization:
            sent["openai-organization"] = organization
        self._pool = HttpPool(
            base_url=self.base_url,
            headers=sent,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            transport=transport,
        )

    @classmethod
    def preset(cls, preset: str, /, **options: Any) -> OpenAICompatible:
        """A backend for a known server kind (see :data:`PRESETS`); ``options`` override it.

        ``OpenAICompatible.preset("tgi")`` needs no model (TGI serves its one model as
        "tgi"); the others need ``model=``.
        """
        row = PRESETS.get(preset) if isinstance(preset, str) else None
        if row is None:
            raise ConfigError(f"unknown preset; expected one of {sorted(PRESETS)}", path="openai.preset")
        options.setdefault("base_url", row.base_url)
        if row.api_key is not None:
            options.setdefault("api_key", row.api_key)
        if row.model is not None:
            options.setdefault("model", row.model)
        if "model" not in options:
            raise ConfigError(f"the {preset!r} preset needs model=", path="openai.model")
        backend = cls(**options)
        backend.continues = row.continues
        if preset != "openai":
            backend.provider = preset
        return backend

    def __repr__(self) -> str:
        return f"OpenAICompatible(model={self.model!r}, base_url={self.base_url!r})"

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [m.to_openai() for m in request.messages],
            **request.sampling(),
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(_plain(request.extra_body))
        return body

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = self._body(request, stream=False)
        data = await post_json(self._pool, self._chat_path, body, deployment=self.name, read_error=read_error)
        return parse_completion(data, deployment=self.name, model=body["model"])

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = self._body(request, stream=True)
        assembler = StreamAssembler(model=body["model"], deployment=self.name)
        ended = False
        async with open_sse(self._pool, self._chat_path, body, deployment=self.name, read_error=read_error) as events:
            async for event, data in events:
                if event == "error" or "error" in data:
                    raise stream_error(data, deployment=self.name)
                chunk = _fold(data, assembler, self.name)
                ended = ended or assembler.finish_reason is not None or assembler.usage is not None
                if chunk is not None:
                    yield chunk
        if not ended:
            raise ProviderConnectionError("stream ended before a finish reason or usage", deployment=self.name)
        yield assembler.final_chunk()

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        """Embeddings from ``/embeddings`` (``request.model``, else this backend's model)."""
        body = embed_body(request, self.model)
        data = await post_json(self._pool, self._embed_path, body, deployment=self.name, read_error=read_error)
        return parse_embeddings(data, deployment=self.name, model=body["model"])

    async def aclose(self) -> None:
        await self._pool.aclose()

    def continuation(self, request: ChatRequest, text: str) -> ChatRequest | None:
        """``request`` asking the model to continue its answer from ``text`` (what it had
        streamed before the stream broke), or None when this server cannot.

        The answer becomes a final assistant message that the server continues instead
        of opening a new turn (vLLM: ``continue_final_message``, no generation prompt);
        an answer the request itself had begun (already a continuation) is extended.
        """
        if not self.continues:
            return None
        extra = dict(request.extra_body)
        messages = request.messages
        last = messages[-1]
        if extra.get("continue_final_message") and last.role == "assistant" and isinstance(last.content, str):
            messages = (*messages[:-1], replace(last, content=last.content + text))
        else:
            messages = (*messages, Message("assistant", text))
        extra.update(continue_final_message=True, add_generation_prompt=False)
        return replace(request, messages=messages, extra_body=extra)


# --- embeddings -------------------------------------------------------------------


def embed_body(request: EmbedRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model or model, "input": list(request.inputs), "encoding_format": "float"}
    if request.user:
        body["user"] = request.user
    body.update(_plain(request.extra_body))
    return body


def parse_embeddings(data: Mapping[str, Any], *, deployment: str, model: str) -> EmbedResponse:
    """An embeddings body (``{"data": [{"index", "embedding"}], "usage"}``) -> :class:`EmbedResponse`."""
    if "error" in data:
        raise stream_error(data, deployment=deployment)
    items = data.get("data")
    if not isinstance(items, list) or not items:
        raise MalformedResponseError("response has no data", deployment=deployment)
    vectors: dict[int, tuple[float, ...]] = {}
    for position, raw in enumerate(items):
        item = expect_object(raw, deployment=deployment, what=f"data[{position}]")
        index = item.get("index", position)
        vectors[index if isinstance(index, int) else position] = _vector(item.get("embedding"), deployment)
    usage = data.get("usage")
    prompt = _count(usage.get("prompt_tokens")) if isinstance(usage, Mapping) else 0
    return EmbedResponse(
        id=str(data.get("id") or ""),
        text="",
        finish_reason=None,
        usage=Usage(prompt_tokens=prompt),
        model=str(data.get("model") or model),
        deployment=deployment,
        vectors=tuple(vectors[i] for i in sorted(vectors)),
    )


def _vector(raw: Any, deployment: str) -> tuple[float, ...]:
    if isinstance(raw, str):  # encoding_format="base64": little-endian float32
        import array
        import base64

        values = array.array("f")
        try:
            values.frombytes(base64.b64decode(raw))
        except ValueError as exc:
            raise MalformedResponseError("an embedding is not base64 float32", deployment=deployment) from exc
        return tuple(values)
    if not isinstance(raw, list) or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw):
        raise MalformedResponseError("an embedding is not a list of numbers", deployment=deployment)
    return tuple(float(x) for x in raw)


# --- errors -----------------------------------------------------------------------


def read_error(status: int, body: Any, text: str) -> tuple[str, str | None]:
    """(message, error type or code) from any error body shape we have seen."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):  # OpenAI, vLLM, Ollama
            kind = error.get("code") if isinstance(error.get("code"), str) else error.get("type")
            return str(error.get("message") or ""), kind if isinstance(kind, str) else None
        if isinstance(error, str):  # TGI: {"error": "...", "error_type": "..."}
            kind = body.get("error_type") or body.get("code")
            return error, kind if isinstance(kind, str) else None
        detail = body.get("detail", body.get("message"))
        if isinstance(detail, str):  # FastAPI / Starlette, older vLLM {"object": "error", "message": ...}
            kind = body.get("type") or body.get("code")
            return detail, kind if isinstance(kind, str) else None
        if detail is not None:  # FastAPI validation errors: a list of {"loc", "msg", ...}
            return json.dumps(detail, separators=(",", ":")), None
    return text.strip(), None


_TYPE_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "context_length_exceeded": 400,
    "content_filter": 400,
}


def stream_error(data: Mapping[str, Any], *, deployment: str) -> ProviderError | RateLimitedError:
    """The typed error for an error object inside a 200 stream (or a 200 body)."""
    error = data.get("error")
    message, kind = read_error(200, data, json.dumps(_plain(data)))
    code = error.get("code") if isinstance(error, Mapping) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        status = code  # vLLM puts the HTTP status in "code"
    else:
        status = _TYPE_STATUSES.get(kind or "", 500)
    return status_error(status, f"in stream: {message}", deployment=deployment, error_type=kind)


# --- responses --------------------------------------------------------------------


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, Mapping):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return Usage(
        prompt_tokens=_count(raw.get("prompt_tokens")),
        completion_tokens=_count(raw.get("completion_tokens")),
        cached_tokens=_count(cached),
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text(content: Any, deployment: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    raise MalformedResponseError(f"message content is a {type(content).__name__}", deployment=deployment)


def _tool_calls(raw: Any, deployment: str) -> tuple[Mapping[str, Any], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(c, Mapping) for c in raw):
        raise MalformedResponseError("tool_calls is not a list of objects", deployment=deployment)
    return tuple(raw) or None


def parse_completion(data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
    """A chat-completion body -> :class:`ChatResponse`."""
    if "error" in data:
        raise stream_error(data, deployment=deployment)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponseError("response has no choices", deployment=deployment)
    choice = expect_object(choices[0], deployment=deployment, what="choices[0]")
    message = expect_object(choice.get("message"), deployment=deployment, what="choices[0].message")
    return ChatResponse(
        id=str(data.get("id") or ""),
        text=_text(message.get("content"), deployment),
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(data.get("usage")) or Usage(),
        model=str(data.get("model") or model),
        deployment=deployment,
        tool_calls=_tool_calls(message.get("tool_calls"), deployment),
    )


def _fold(data: Mapping[str, Any], assembler: StreamAssembler, deployment: str) -> ChatChunk | None:
    """Fold one stream event into the assembler; the chunk to pass on, if any."""
    if data.get("id"):
        assembler.id = str(data["id"])
    if data.get("model"):
        assembler.model = str(data["model"])
    usage = parse_usage(data.get("usage"))
    if usage is not None:
        assembler.usage = usage
    choices = data.get("choices")
    if choices is None and usage is not None:
        return None
    if not isinstance(choices, list):
        raise MalformedResponseError("stream event has no choices list", deployment=deployment)
    text = ""
    calls: list[Mapping[str, Any]] = []
    for raw in choices:
        choice = expect_object(raw, deployment=deployment, what="stream choice")
        if choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        if not isinstance(delta, Mapping):
            raise MalformedResponseError("stream delta is not an object", deployment=deployment)
        text += _text(delta.get("content"), deployment)
        for call in _tool_calls(delta.get("tool_calls"), deployment) or ():
            assembler.add_tool_call_delta(call)
            calls.append(call)
        if choice.get("finish_reason") is not None:
            assembler.finish_reason = str(choice["finish_reason"])
    if not text and not calls:
        return None
    assembler.add_text(text)
    return ChatChunk(text=text, tool_calls=tuple(calls) or None)
