"""``llmprod.wrap(openai_client)``: an existing OpenAI SDK client, hardened.

``client.chat.completions.create(...)`` goes through the llmprod stack on llmprod's own
backend, built from the SDK client's base URL, key, headers and timeout, and returns
the SDK's own types (``ChatCompletion``, a stream of ``ChatCompletionChunk``). Errors
come back as the SDK's own exception classes (the llmprod error is the ``__cause__``);
errors only llmprod raises (a local rate limit, a budget, a guard) stay llmprod's.
Everything else (``embeddings``, ``files``, ...) passes through to the original client.

The SDK's own retries never run for wrapped chat calls (the SDK is not on that path),
so attempts are not multiplied: llmprod's ``Retry`` is the only retry loop.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

from .._core.backend import Backend
from .._core.deployment import Deployment
from .._core.errors import (
    AllBackendsFailedError,
    DeadlineExceededError,
    LLMProdError,
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
)
from .._core.models import SAMPLING_FIELDS, ChatChunk, ChatResponse

# SDK arguments that map to llmprod's own; any other is forwarded in extra_body.
_DIRECT = frozenset({"messages", "model", *SAMPLING_FIELDS})
_FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}


def _openai() -> ModuleType:
    try:
        import openai
    except ImportError:
        raise MissingDependencyError("openai", "openai") from None
    return openai


def _given(value: Any) -> bool:
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def _arguments(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """SDK keyword arguments -> (llmprod chat arguments, stream?, include usage chunk?)."""
    args: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    stream = bool(kwargs.get("stream") is True)
    options = kwargs.get("stream_options")
    include_usage = bool(_given(options) and isinstance(options, Mapping) and options.get("include_usage"))
    for key, value in kwargs.items():
        if not _given(value) or key in ("stream", "stream_options"):
            continue
        if key == "max_completion_tokens":
            args.setdefault("max_tokens", value)
        elif key == "timeout":
            args["timeout"] = float(value) if isinstance(value, int | float) else None
        elif key == "extra_body":
            extra.update(value)
        elif key in ("extra_headers", "extra_query"):
            continue  # headers are fixed per backend; a per-call header would bypass the stack's view
        elif key in _DIRECT:
            args[key] = list(value) if key == "messages" else value
        else:
            extra[key] = value
    if extra:
        args["extra_body"] = extra
    if args.get("timeout") is None:
        args.pop("timeout", None)
    return args, stream, include_usage


def _completion_dict(r: ChatResponse) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": r.text if r.text or not r.tool_calls else None}
    if r.tool_calls:
        message["tool_calls"] = [dict(c) for c in r.tool_calls]
    return {
        "id": r.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": r.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(r.finish_reason), "logprobs": None}],
        "usage": _usage_dict(r),
    }


def _finish(reason: str | None) -> str:
    return reason if reason in _FINISH else "stop"


def _usage_dict(r: ChatResponse) -> dict[str, Any]:
    u = r.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


class _ChunkMaker:
    def __init__(self, types: ModuleType, include_usage: bool) -> None:
        self.types = types
        self.include_usage = include_usage
        self.created = int(time.time())
        self.first = True

    def convert(self, chunk: ChatChunk) -> list[Any]:
        make = self.types.ChatCompletionChunk.model_validate
        out = []
        final = chunk.response
        ident = final.id if final else "chatcmpl-llmprod"
        model = final.model if final else ""
        if chunk.text or chunk.tool_calls or self.first:
            delta: dict[str, Any] = {"content": chunk.text}
            if self.first:
                delta["role"] = "assistant"
            if chunk.tool_calls:
                delta["tool_calls"] = [dict(c) for c in chunk.tool_calls]
            self.first = False
            if chunk.text or chunk.tool_calls or final is None:
                out.append(make(self._frame(ident, model, [{"index": 0, "delta": delta, "finish_reason": None}])))
        if final is not None:
            out.append(
                make(
                    self._frame(
                        ident, model, [{"index": 0, "delta": {}, "finish_reason": _finish(final.finish_reason)}]
                    )
                )
            )
            if self.include_usage:
                out.append(make({**self._frame(ident, model, []), "usage": _usage_dict(final)}))
        return out

    def _frame(self, ident: str, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
            "choices": choices,
        }


class _ErrorMapper:
    """llmprod errors -> the SDK's own exception classes, built the SDK's way."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.http = _http_module(getattr(original, "_client", None))
        self.url = str(getattr(original, "base_url", "")) + "chat/completions"

    def convert(self, exc: LLMProdError) -> BaseException:
        openai = _openai()
        if isinstance(exc, AllBackendsFailedError) and exc.errors:
            last = exc.errors[-1]
            if isinstance(last, LLMProdError):
                return self.convert(last)
        if self.http is None:
            return exc
        request = self.http.Request("POST", self.url)
        if isinstance(exc, ProviderTimeoutError | DeadlineExceededError):
            return openai.APITimeoutError(request=request)  # type: ignore[no-any-return]
        if isinstance(exc, ProviderConnectionError):
            return openai.APIConnectionError(message=str(exc), request=request)  # type: ignore[no-any-return]
        status = getattr(exc, "status", None)
        if (
            isinstance(exc, ProviderError | RateLimitedError)
            and status
            and (not isinstance(exc, RateLimitedError) or exc.source == "provider")
        ):
            body = {"error": {"message": exc.message, "type": getattr(exc, "error_type", None)}}
            response = self.http.Response(status, request=request, json=body)
            make = getattr(self.original, "_make_status_error", None)
            if make is not None:
                return make(exc.message, body=body["error"], response=response)  # type: ignore[no-any-return]
            return openai.APIStatusError(exc.message, response=response, body=body["error"])  # type: ignore[no-any-return]
        return exc


def _http_module(http_client: object) -> ModuleType | None:
    """The HTTP library under the SDK (httpx for openai 1.x-2.x, httpx2 for 3.x)."""
    for cls in type(http_client).__mro__:
        root = cls.__module__.split(".")[0]
        if root.startswith("httpx"):
            return sys.modules.get(root)
    return None


def _backend_from(original: Any, name: str | None) -> Backend:
    from ..backends.openai import OpenAICompatible

    headers = {
        k: v
        for k, v in dict(getattr(original, "_custom_headers", {}) or {}).items()
        if isinstance(v, str) and k.lower() != "authorization"
    }
    timeout = getattr(original, "timeout", None)
    connect = getattr(timeout, "connect", None)
    read = getattr(timeout, "read", None)
    return OpenAICompatible(
        model="default",  # every SDK call names its model; this is never sent
        base_url=str(original.base_url).rstrip("/"),
        api_key=original.api_key,
        headers=headers or None,
        organization=getattr(original, "organization", None),
        name=name or "openai",
        connect_timeout=float(connect) if isinstance(connect, int | float) else 5.0,
        read_timeout=float(read) if isinstance(read, int | float) else None,
    )


class _Completions:
    def __init__(self, owner: WrappedOpenAI) -> None:
        self._owner = owner

    def create(self, **kwargs: Any) -> Any:
        """``chat.completions.create`` with the SDK's arguments, through the llmprod stack."""
        owner = self._owner
        types = owner._types
        args, stream, include_usage = _arguments(kwargs)
        try:
            if not stream:
                return types.ChatCompletion.model_validate(_completion_dict(owner.llmprod.chat(**args)))
            chunks = owner.llmprod.stream(**args)
        except LLMProdError as exc:
            raise owner._errors.convert(exc) from exc
        return _SyncStream(chunks, _ChunkMaker(types, include_usage), owner._errors)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner._original.chat.completions, name)


class _SyncStream:
    """Iterates ``ChatCompletionChunk``s, like the SDK's ``Stream``; closable, a context manager."""

    def __init__(self, chunks: Iterator[ChatChunk], maker: _ChunkMaker, errors: _ErrorMapper) -> None:
        self._chunks = chunks
        self._iter = self._run(maker, errors)

    def _run(self, maker: _ChunkMaker, errors: _ErrorMapper) -> Generator[Any, None, None]:
        try:
            for chunk in self._chunks:
                yield from maker.convert(chunk)
        except LLMProdError as exc:
            raise errors.convert(exc) from exc

    def __iter__(self) -> Iterator[Any]:
        return self._iter

    def __next__(self) -> Any:
        return next(self._iter)

    def close(self) -> None:
        self._iter.close()
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> _SyncStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Chat:
    def __init__(self, completions: Any, original: Any) -> None:
        self.completions = completions
        self._original = original

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original.chat, name)


class WrappedOpenAI:
    """An ``openai.OpenAI`` whose chat completions run through llmprod (see :func:`wrap`)."""

    def __init__(self, original: Any, client: Any) -> None:
        self._original = original
        self._types = _types()
        self._errors = _ErrorMapper(original)
        self.llmprod = client
        self.chat = _Chat(_Completions(self), original)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)

    def __repr__(self) -> str:
        return f"llmprod.wrap({type(self._original).__name__}, {self.llmprod!r})"

    def close(self) -> None:
        self.llmprod.close()
        self._original.close()


class _AsyncCompletions:
    def __init__(self, owner: WrappedAsyncOpenAI) -> None:
        self._owner = owner

    async def create(self, **kwargs: Any) -> Any:
        owner = self._owner
        args, stream, include_usage = _arguments(kwargs)
        if not stream:
            try:
                response = await owner.llmprod.chat(**args)
            except LLMProdError as exc:
                raise owner._errors.convert(exc) from exc
            return owner._types.ChatCompletion.model_validate(_completion_dict(response))
        return _AsyncStream(owner.llmprod.stream(**args), _ChunkMaker(owner._types, include_usage), owner._errors)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner._original.chat.completions, name)


class _AsyncStream:
    def __init__(self, chunks: AsyncIterator[ChatChunk], maker: _ChunkMaker, errors: _ErrorMapper) -> None:
        self._chunks = chunks
        self._iter = self._run(maker, errors)

    async def _run(self, maker: _ChunkMaker, errors: _ErrorMapper) -> AsyncGenerator[Any, None]:
        try:
            async for chunk in self._chunks:
                for item in maker.convert(chunk):
                    yield item
        except LLMProdError as exc:
            raise errors.convert(exc) from exc

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter

    async def __anext__(self) -> Any:
        return await anext(self._iter)

    async def close(self) -> None:
        await self._iter.aclose()

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class WrappedAsyncOpenAI:
    """An ``openai.AsyncOpenAI`` whose chat completions run through llmprod."""

    def __init__(self, original: Any, client: Any) -> None:
        self._original = original
        self._types = _types()
        self._errors = _ErrorMapper(original)
        self.llmprod = client
        self.chat = _Chat(_AsyncCompletions(self), original)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)

    def __repr__(self) -> str:
        return f"llmprod.wrap({type(self._original).__name__}, {self.llmprod!r})"

    async def close(self) -> None:
        await self.llmprod.aclose()
        await self._original.close()


def _types() -> ModuleType:
    _openai()
    import openai.types.chat as types

    return types


def wrap(
    openai_client: Any,
    *,
    fallbacks: Sequence[Backend | Deployment] = (),
    name: str | None = None,
    **options: Any,
) -> Any:
    """Harden an ``openai.OpenAI`` or ``openai.AsyncOpenAI`` client.

    ``fallbacks`` are deployments tried after the wrapped client's own endpoint;
    ``options`` are the llmprod client's (``retry=``, ``cache=``, ``pii=``, ...).
    Returns an object that behaves like the SDK client.

    Example::

        oai = llmprod.wrap(openai.OpenAI(), cache=llmprod.Cache())
        oai.chat.completions.create(model="gpt-4o-mini", messages=[...])
    """
    openai = _openai()
    if not isinstance(openai_client, openai.OpenAI | openai.AsyncOpenAI):
        raise TypeError(
            f"wrap() takes an openai.OpenAI or openai.AsyncOpenAI client, got {type(openai_client).__name__}"
        )
    deployments = [_backend_from(openai_client, name), *fallbacks]
    if isinstance(openai_client, openai.AsyncOpenAI):
        from .._client.async_client import AsyncClient

        return WrappedAsyncOpenAI(openai_client, AsyncClient(deployments, **options))
    from .._client.sync_client import Client

    return WrappedOpenAI(openai_client, Client(deployments, **options))
