"""The SDKs ``llmprod.wrap`` knows: which client classes, which endpoints it hardens,
their defaults, and the one override that turns the SDK's own retries off for those
endpoints (llmprod retries them; the SDK keeps retrying everything else).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .chat import CHAT
from .codec import Codec
from .embeddings import EMBEDDINGS
from .messages import MESSAGES
from .responses import RESPONSES


@dataclass(frozen=True, slots=True)
class Kind:
    """One SDK: ``routes`` maps an endpoint's path suffix (and the SDK's relative URL)
    to its codec; ``provider`` is the telemetry name; ``defaults`` the SDK's module of
    defaults (``DEFAULT_MAX_RETRIES``, ``DEFAULT_TIMEOUT``)."""

    name: str
    provider: str
    routes: Mapping[str, Codec]
    defaults: str
    is_async: bool


_OPENAI_ROUTES: Mapping[str, Codec] = {"/chat/completions": CHAT, "/embeddings": EMBEDDINGS, "/responses": RESPONSES}


def kind_of(client: object) -> Kind | None:
    """The SDK ``client`` belongs to (the SDKs' modules are only looked at when imported)."""
    openai = sys.modules.get("openai")
    if openai is not None and isinstance(client, openai.OpenAI | openai.AsyncOpenAI):
        is_async = isinstance(client, openai.AsyncOpenAI)
        if isinstance(client, openai.AzureOpenAI | openai.AsyncAzureOpenAI):
            return Kind("azure", "azure.ai.openai", _OPENAI_ROUTES, "openai._constants", is_async)
        return Kind("openai", "openai", _OPENAI_ROUTES, "openai._constants", is_async)
    anthropic = sys.modules.get("anthropic")
    if anthropic is not None and isinstance(client, anthropic.Anthropic | anthropic.AsyncAnthropic):
        routes: Mapping[str, Codec] = {"/v1/messages": MESSAGES}
        return Kind(
            "anthropic", "anthropic", routes, "anthropic._constants", isinstance(client, anthropic.AsyncAnthropic)
        )
    return None


def http_module(client: Any) -> ModuleType:
    """The HTTP library under the SDK client (httpx2 for openai 3.x and anthropic 2.x, httpx before)."""
    for cls in type(client._client).__mro__:
        root = cls.__module__.split(".")[0]
        if root.startswith("httpx") and root in sys.modules:
            return sys.modules[root]
    import httpx

    return httpx


@functools.cache
def hardened_class(cls: Any, suffixes: frozenset[str]) -> type:
    """``cls`` with the SDK's retry loop off for the endpoints llmprod hardens.

    The SDK's ``request`` reads ``options.max_retries`` once per call; for those
    endpoints it is 0, so llmprod's ``Retry`` is the only retry loop. The subclass keeps
    the SDK class's name and module: ``isinstance`` and reprs are unchanged.
    """

    def hardened(options: Any) -> Any:
        url = str(getattr(options, "url", "")).partition("?")[0]
        if any(url.endswith(suffix) for suffix in suffixes):
            return options.model_copy(update={"max_retries": 0})
        return options

    if inspect.iscoroutinefunction(cls.request):

        async def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
            return await cls.request(self, cast_to, hardened(options), *args, **kwargs)

    else:

        def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            return cls.request(self, cast_to, hardened(options), *args, **kwargs)

    namespace = {"request": request, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls,), namespace)
