"""Placeholder until the telemetry work lands: passes calls through unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._config import Telemetry
from .._models import ChatChunk, ChatRequest, ChatResponse
from .._types import Backend, Emit


class TelemetryLayer:
    def __init__(self, inner: Backend, config: Telemetry, emit: Emit) -> None:
        self.inner = inner
        self.name = inner.name

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.inner.stream(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
