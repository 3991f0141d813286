"""Azure OpenAI: OpenAI's chat completions and embeddings in Azure's wire shape.

A deployment is addressed by its path, ``{endpoint}/openai/deployments/{deployment}/...``,
with the ``api-version`` query parameter on every request; the key goes in an
``api-key`` header, or a Microsoft Entra ID token in ``Authorization: Bearer`` (a fixed
token, or a function called before each request, as the openai SDK's
``azure_ad_token_provider``). Bodies, answers, streams and errors are OpenAI's, so
everything else is :class:`~llmprod.backends.openai.OpenAICompatible`'s.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigError
from .._core.models import ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse
from .openai import OpenAICompatible

if TYPE_CHECKING:
    import httpx

DEFAULT_API_VERSION = "2024-10-21"  # the latest generally available data-plane version
TokenProvider = Callable[[], "str | Awaitable[str]"]


class AzureOpenAI(OpenAICompatible):
    """A model deployed on Azure OpenAI.

    ``endpoint`` (``https://NAME.openai.azure.com``) falls back to
    ``$AZURE_OPENAI_ENDPOINT``, ``api_version`` to ``$OPENAI_API_VERSION``; give
    ``api_key`` (else ``$AZURE_OPENAI_API_KEY``), or ``azure_ad_token``, or
    ``azure_ad_token_provider`` (sync or async; called before each request). ``model``
    names the model behind the deployment, for prices (the deployment's name by
    default; the answer's own ``model`` is priced when the table knows it). Keys and
    tokens never appear in ``repr()``, errors or logs.

    Example::

        llmprod.AzureOpenAI(endpoint="https://acme.openai.azure.com", deployment="gpt-4o-prod", api_key=...)
    """

    provider = "azure.ai.openai"

    def __init__(
        self,
        *,
        deployment: str,
        endpoint: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        azure_ad_token: str | None = None,
        azure_ad_token_provider: TokenProvider | None = None,
        model: str | None = None,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float | None = None,
        max_connections: int = 100,
        region: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(deployment, str) or not deployment or "/" in deployment:
            raise ConfigError(f"must be a deployment name, got {deployment!r}", path="azure.deployment")
        endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigError("no endpoint: pass endpoint= or set AZURE_OPENAI_ENDPOINT", path="azure.endpoint")
        version = api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_API_VERSION
        given = [x for x in (api_key, azure_ad_token, azure_ad_token_provider) if x is not None]
        if len(given) > 1:
            raise ConfigError("give one of api_key, azure_ad_token, azure_ad_token_provider", path="azure.api_key")
        if not given:
            api_key = os.environ.get("AZURE_OPENAI_API_KEY")
            if not api_key:
                raise ConfigError(
                    "no credentials: pass api_key=, azure_ad_token= or azure_ad_token_provider=, "
                    "or set AZURE_OPENAI_API_KEY",
                    path="azure.api_key",
                )
        sent = dict(headers or {})
        if api_key is not None:
            sent["api-key"] = api_key
        elif azure_ad_token is not None:
            sent["authorization"] = f"Bearer {azure_ad_token}"
        super().__init__(
            model=model or deployment,
            base_url=f"{endpoint.rstrip('/')}/openai/deployments/{deployment}",
            headers=sent,
            name=name or f"azure:{deployment}",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            region=region,
            transport=transport,
        )
        self.deployment = deployment
        self.api_version = version
        self._chat_path = f"/chat/completions?api-version={version}"
        self._embed_path = f"/embeddings?api-version={version}"
        self._token_provider = azure_ad_token_provider

    def __repr__(self) -> str:
        return f"AzureOpenAI(deployment={self.deployment!r}, base_url={self.base_url!r})"

    async def _authorize(self) -> None:
        if self._token_provider is None:
            return
        token: Any = self._token_provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token:
            raise ConfigError("azure_ad_token_provider returned no token", path="azure.azure_ad_token_provider")
        self._pool.set_header("authorization", f"Bearer {token}")

    async def complete(self, request: ChatRequest) -> ChatResponse:
        await self._authorize()
        return await super().complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        await self._authorize()
        async for chunk in super().stream(request):
            yield chunk

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        await self._authorize()
        return await super().embed(request)
