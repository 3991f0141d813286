"""``llmprod.wrap(sdk_client)``: an existing OpenAI, Azure OpenAI or Anthropic SDK client,
hardened, and still the SDK's own client.

Two ways were open: a subclass whose resources call the stack, or llmprod under the SDK
as its HTTP transport. The transport keeps every SDK feature with the least code: the
SDK still builds each request and parses each answer (``with_raw_response``,
``parse``, its stream classes, every field, every future endpoint), and llmprod needs
one codec per endpoint instead of a copy of each resource (sync and async, per SDK
version). What it takes besides: one override of the SDK's ``request`` that turns the
SDK's own retries off for the endpoints llmprod retries (:func:`~.sdks.hardened_class`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, TypeVar

from .._core.backend import Backend
from .._core.config import Retry, Timeout
from .._core.deployment import Deployment
from .endpoint import SDKEndpoint
from .sdks import Kind, hardened_class, http_module, kind_of
from .transport import Routes, Wiring, async_transport, sync_transport

SDKClient = TypeVar("SDKClient")


def wrap(
    sdk_client: SDKClient,
    *,
    fallbacks: Sequence[Backend | Deployment] = (),
    name: str | None = None,
    **options: Any,
) -> SDKClient:
    """Harden an ``openai.OpenAI``, ``openai.AzureOpenAI`` or ``anthropic.Anthropic``
    client (or its async twin): the same SDK client, its calls through llmprod.

    Returns a copy of ``sdk_client`` (of its class: ``isinstance`` holds, and type
    checkers keep its type) whose chat completions, embeddings and Responses API calls
    (Anthropic: messages) go through the llmprod stack; every other call goes to the
    provider as before. ``options`` are the llmprod client's (``retry=``, ``cache=``,
    ``pii=``, ...); ``fallbacks`` are deployments tried after the SDK's own endpoint.
    The SDK's ``max_retries`` and ``timeout`` become llmprod's ``Retry`` and ``Timeout``
    when they are not the SDK's defaults; ``retry=`` and ``timeout=`` given here win.
    ``wrapped.llmprod`` is the llmprod client (``stats()``, ``costs()``); closing the
    wrapped SDK client closes it.

    Example::

        oai = llmprod.wrap(openai.OpenAI(), cache=llmprod.Cache())
        oai.chat.completions.create(model="gpt-4o-mini", messages=[...])
    """
    kind = kind_of(sdk_client)
    if kind is None:
        raise TypeError(
            "wrap() takes an openai.OpenAI, openai.AzureOpenAI or anthropic.Anthropic client "
            f"(or its async twin), got {type(sdk_client).__name__}"
        )
    client: Any = sdk_client
    http = http_module(client)
    options = _from_sdk(client, kind, dict(options))
    timeout = options.get("timeout", Timeout())
    endpoint = SDKEndpoint(
        name=name or kind.name, provider=kind.provider, base_url=str(client.base_url), connect_timeout=timeout.connect
    )
    deployments = [endpoint, *fallbacks]
    llm: Any
    if kind.is_async:
        from .._client.async_client import AsyncClient

        llm = core = AsyncClient(deployments, **options)
    else:
        from .._client.sync_client import Client

        llm = Client(deployments, **options)
        core = llm.aio
    wiring = Wiring(
        http, Routes(dict(kind.routes)), endpoint, total=core.config.timeout.total, sdk_read=_read(client.timeout)
    )
    passthrough = _Passthrough(client._client)
    if kind.is_async:
        transport = async_transport(http, wiring, llm, passthrough)
        http_client = http.AsyncClient(transport=transport, follow_redirects=True, timeout=client.timeout)
    else:
        transport = sync_transport(http, wiring, llm, passthrough)
        http_client = http.Client(transport=transport, follow_redirects=True, timeout=client.timeout)
    wrapped = client.copy(http_client=http_client)
    wrapped.__class__ = hardened_class(wrapped.__class__, frozenset(kind.routes))
    wrapped.llmprod = llm
    result: SDKClient = wrapped
    return result


def _from_sdk(client: Any, kind: Kind, options: dict[str, Any]) -> dict[str, Any]:
    """The SDK client's own ``max_retries`` and ``timeout``, where the caller set them, as llmprod's."""
    defaults = importlib.import_module(kind.defaults)
    retries = client.max_retries
    if "retry" not in options and retries != defaults.DEFAULT_MAX_RETRIES:
        options["retry"] = Retry(attempts=retries + 1) if retries > 0 else None
    read = _read(client.timeout)
    if "timeout" not in options and read and client.timeout != defaults.DEFAULT_TIMEOUT:
        retry = options.get("retry", Retry())
        attempts = retry.attempts if retry is not None else 1
        connect = getattr(client.timeout, "connect", None) or Timeout().connect
        total = max(Timeout().total, read * attempts)
        options["timeout"] = Timeout(attempt=read, stream_idle=read, connect=connect, total=total)
    return options


def _read(timeout: Any) -> float | None:
    read = getattr(timeout, "read", timeout)
    return float(read) if isinstance(read, int | float) and not isinstance(read, bool) else None


class _Passthrough:
    """The SDK's own HTTP client's transport, for the requests llmprod does not harden."""

    def __init__(self, http_client: Any) -> None:
        self.http_client = http_client

    def _transport(self, request: Any) -> Any:
        pick = getattr(self.http_client, "_transport_for_url", None)
        return pick(request.url) if pick is not None else self.http_client._transport

    def handle_request(self, request: Any) -> Any:
        return self._transport(request).handle_request(request)

    async def handle_async_request(self, request: Any) -> Any:
        return await self._transport(request).handle_async_request(request)
