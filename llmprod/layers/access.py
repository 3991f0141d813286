"""The access layer: authenticates the call's API key and applies that key's policy.

It sits just inside telemetry, so a refused call costs nothing below it. An accepted
call goes on with the key's tenant set on the request (billing, cache namespace and
tenant limits follow it), through the key's own rate limiter when it has one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from .._core.backend import Backend, Emit
from .._core.errors import AccessDeniedError
from .._core.events import GuardTriggered
from .._core.models import ChatChunk, ChatRequest, ChatResponse
from .._safety.access import AccessPolicy
from ._streams import aclose_stream
from .ratelimit import RateLimitLayer

KEY_TAG = "llmprod.api_key"


class AccessLayer:
    """Refuses unknown or disallowed keys with :class:`AccessDeniedError`."""

    def __init__(self, inner: Backend, policy: AccessPolicy, emit: Emit) -> None:
        self.inner = inner
        self.policy = policy
        self.emit = emit
        self.name = inner.name
        self._limited: dict[str, RateLimitLayer] = {
            key.key_sha256: RateLimitLayer(inner, key.rate_limit, emit)
            for key in policy.keys
            if key.rate_limit is not None
        }

    def _admit(self, request: ChatRequest) -> tuple[Backend, ChatRequest]:
        try:
            key = self.policy.authorize(request)
        except AccessDeniedError as exc:
            trace = request.trace
            self.emit(GuardTriggered(trace.call_id if trace else None, "access", "input", "block", exc.message))
            raise
        metadata = request.metadata
        if key.tenant is not None and key.tenant != metadata.tenant:
            metadata = replace(metadata, tenant=key.tenant)
        if key.budget is not None:
            # The key's budget counts this key's calls only: it is scoped by a tag naming the key.
            tags = {**metadata.tags, KEY_TAG: key.name}
            metadata = replace(metadata, tags=tags, budget=replace(key.budget, per=f"tag:{KEY_TAG}"))
        if metadata is not request.metadata:
            request = replace(request, metadata=metadata)
        return self._limited.get(key.key_sha256, self.inner), request

    async def complete(self, request: ChatRequest) -> ChatResponse:
        backend, request = self._admit(request)
        return await backend.complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        backend, request = self._admit(request)
        stream = backend.stream(request)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_stream(stream)

    async def aclose(self) -> None:
        for limited in self._limited.values():
            await limited.buckets.aclose()
        await self.inner.aclose()
