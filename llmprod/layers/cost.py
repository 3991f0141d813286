"""Placeholder until the cost work lands: passes calls through unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from .._config import Budget
from .._deployment import Deployment
from .._models import ChatChunk, ChatRequest, ChatResponse
from .._types import Backend, Emit


class CostLayer:
    def __init__(self, inner: Backend, budget: Budget | None, emit: Emit, *, deployments: Sequence[Deployment]) -> None:
        self.inner = inner
        self.name = inner.name

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.inner.stream(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
