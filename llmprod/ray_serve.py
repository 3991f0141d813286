"""Run llmprod as a Ray Serve deployment: replicas that scale with the request load.

Each replica builds its own :class:`~llmprod.AsyncClient` (so its own engine,
connections and breakers) from a config, and answers OpenAI-style
``POST /v1/chat/completions`` over HTTP (``"stream": true`` gives server-sent events)
and ``chat(body)`` through a Serve handle. Ray Serve adds and removes replicas as the
number of ongoing requests per replica moves around ``target_ongoing_requests``::

    from ray import serve
    from llmprod import ray_serve

    app = ray_serve.app(
        {"deployments": [{"provider": "vllm", "model": "meta-llama/Llama-3.1-8B-Instruct"}]},
        autoscaling_config={"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 16},
        ray_actor_options={"num_gpus": 1},  # one GPU per replica, one engine each
    )
    serve.run(app, route_prefix="/")

Needs the ``ray`` extra (``pip install 'llmprod[ray]'``); ``ray`` is imported only
when a deployment is built. Replicas share nothing unless the config names a Redis
(``[redis] url``): then limits, breakers, budgets and the cache are shared by all.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from ._client.async_client import AsyncClient
from ._core.errors import (
    AccessDeniedError,
    BudgetExceededError,
    CircuitOpenError,
    DeadlineExceededError,
    InputRejectedError,
    InvalidRequestError,
    LLMProdError,
    MissingDependencyError,
    OutputRejectedError,
    ProviderError,
    RateLimitedError,
)
from ._core.models import ChatChunk, ChatResponse, new_id
from ._wrap.openai import _arguments, _completion_dict, _finish, _usage_dict

ClientSource = Mapping[str, Any] | str | Path | Callable[[], AsyncClient] | None
"""A config dict, a config file (read where the app is built), a function that builds
the client (shipped to every replica), or None for the simulated provider."""


def _serve() -> Any:
    try:
        from ray import serve
    except ImportError as exc:
        raise MissingDependencyError("ray[serve]", "ray") from exc
    return serve


def _portable(source: ClientSource) -> Mapping[str, Any] | Callable[[], AsyncClient] | None:
    """A file becomes its (unexpanded) contents: replicas may run on hosts without it, and
    ``${VAR}`` is filled from each replica's own environment, so no secret is shipped."""
    if isinstance(source, str | Path):
        from ._client.config_file import _read

        return dict(_read(source))
    return source


def _build(source: ClientSource) -> AsyncClient:
    if source is None:
        return AsyncClient()
    if callable(source):
        return source()
    return AsyncClient.from_config(source)


class ChatServer:
    """One replica: an :class:`~llmprod.AsyncClient` behind an OpenAI-style route.

    Usable without Ray too (``await ChatServer(config).chat(body)``); :func:`deployment`
    turns it into a Serve deployment.
    """

    def __init__(self, source: ClientSource = None) -> None:
        self.client = _build(source)

    async def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """An OpenAI-style chat completion for an OpenAI-style request body (no streaming).

        Errors come back as ``{"error": {"message", "type", "status"}}``: llmprod's error
        classes do not travel through Ray's serialization intact.
        """
        try:
            return completion(await self.client.chat(**_chat_arguments(body)))
        except LLMProdError as exc:
            return error_body(exc)

    async def __call__(self, request: Any) -> Any:
        """HTTP: ``POST .../chat/completions``; anything else is a 404."""
        from starlette.responses import JSONResponse, StreamingResponse

        if not request.url.path.rstrip("/").endswith("/chat/completions"):
            return JSONResponse(_error("not found: POST /v1/chat/completions", "not_found", 404), status_code=404)
        if request.method != "POST":
            return JSONResponse(_error("use POST", "method_not_allowed", 405), status_code=405)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse(_error("the body is not JSON", "invalid_request_error", 400), status_code=400)
        try:
            arguments = _chat_arguments(body)
            if body.get("stream") is True:
                stream = self.client.stream(**arguments)
                first = await anext(stream)  # errors before the first chunk get a status code
                return StreamingResponse(_sse(first, stream), media_type="text/event-stream")
            return JSONResponse(completion(await self.client.chat(**arguments)))
        except LLMProdError as exc:
            payload = error_body(exc)
            return JSONResponse(payload, status_code=payload["error"]["status"], headers=_retry_headers(exc))

    async def aclose(self) -> None:
        await self.client.aclose()


class ServeReplica(ChatServer):
    """:class:`ChatServer` as Ray Serve runs it: closed when the replica shuts down."""

    async def __del__(self) -> None:
        # Ray Serve awaits an async __del__ when it stops the replica.
        await self.aclose()


def deployment(*, name: str = "llmprod", **options: Any) -> Any:
    """A Ray Serve ``Deployment`` of :class:`ChatServer` (call ``.bind(config)`` for an app).

    ``options`` go to ``serve.deployment`` as given: ``autoscaling_config`` (``min_replicas``,
    ``max_replicas``, ``target_ongoing_requests``, ...), or ``num_replicas``;
    ``ray_actor_options`` (``{"num_gpus": 1}`` for an in-process vLLM engine per
    replica); ``max_ongoing_requests``; and the rest of Serve's deployment options.
    """
    return _serve().deployment(ServeReplica, name=name, **options)


def app(source: ClientSource = None, *, name: str = "llmprod", **options: Any) -> Any:
    """A Ray Serve application, ready for ``serve.run(app, route_prefix=...)``: the
    :func:`deployment` bound to its client config."""
    return deployment(name=name, **options).bind(_portable(source))


# -- wire shapes (pure) ----------------------------------------------------------------


def _chat_arguments(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequestError("the body must be a JSON object", field="body")
    arguments, _, _ = _arguments(body)
    arguments.pop("model", None)  # the replica's config decides what answers (a route name is not a model)
    return arguments


def completion(response: ChatResponse) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object, plus what llmprod knows in ``"llmprod"``."""
    out = _completion_dict(response)
    out["llmprod"] = {
        "deployment": response.deployment,
        "cached": response.cached,
        "cost": response.cost,
        "attempts": response.attempts,
        "latency": response.latency,
        "tier": response.tier,
    }
    return out


def http_status(exc: LLMProdError) -> int:
    """The HTTP status that tells a client what to do about ``exc``."""
    if isinstance(exc, InvalidRequestError | InputRejectedError | OutputRejectedError):
        return 400
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, RateLimitedError | BudgetExceededError):
        return 429
    if isinstance(exc, DeadlineExceededError):
        return 504
    if isinstance(exc, CircuitOpenError):
        return 503
    if isinstance(exc, ProviderError) and exc.status is not None and 400 <= exc.status < 500:
        return exc.status
    return 502


def error_body(exc: LLMProdError) -> dict[str, Any]:
    return _error(str(exc), type(exc).__name__, http_status(exc))


def _error(message: str, kind: str, status: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "status": status}}


def _retry_headers(exc: LLMProdError) -> dict[str, str]:
    retry_after = getattr(exc, "retry_after", None)
    return {"Retry-After": str(max(1, round(retry_after)))} if isinstance(retry_after, int | float) else {}


def _frame(chunk: ChatChunk, ident: str, created: int) -> dict[str, Any]:
    """One ``chat.completion.chunk``; the last one carries finish_reason, usage and the model."""
    final = chunk.response
    delta = {"content": chunk.text} if chunk.text else {}
    choice = {"index": 0, "delta": delta, "finish_reason": _finish(final.finish_reason) if final else None}
    frame: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": final.model if final else "",
        "choices": [choice],
    }
    if final is not None:
        frame["usage"] = _usage_dict(final)
    return frame


async def _sse(first: ChatChunk, rest: AsyncIterator[ChatChunk]) -> AsyncIterator[bytes]:
    ident, created = new_id("chatcmpl"), int(time.time())
    try:
        yield b"data: " + json.dumps(_frame(first, ident, created)).encode() + b"\n\n"
        async for chunk in rest:
            yield b"data: " + json.dumps(_frame(chunk, ident, created)).encode() + b"\n\n"
    except LLMProdError as exc:  # after the first chunk the status is sent: say it in the stream
        yield b"data: " + json.dumps(error_body(exc)).encode() + b"\n\n"
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
    yield b"data: [DONE]\n\n"
