"""Calling one layer the way the client does: a call with a deadline, opened and finished."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from llmprod import Deployment, Telemetry
from llmprod._core.stack import Site, StackConfig, build_stack, layer_specs
from llmprod.backends import ChatChunk, ChatRequest, ChatResponse
from llmprod.layers import Call, Layer, complete, stream


async def answer(layer: Layer, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
    return await complete(layer, Call(request, timeout=timeout))


def streamed(layer: Layer, request: ChatRequest, *, timeout: float | None = None) -> AsyncIterator[ChatChunk]:
    return stream(layer, Call(request, stream=True, timeout=timeout))


async def until(condition: Callable[[], bool], *, steps: int = 10_000) -> None:
    """Let the loop run until ``condition`` holds: ordering by steps, never by time."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def deployment_stack(deployment: Deployment, config: StackConfig) -> Layer:
    """The stack a client builds, for one deployment (no telemetry)."""
    config = replace(config, telemetry=Telemetry(enabled=False))
    return build_stack(layer_specs(config, [deployment]), Site(config, lambda e: None, [deployment]))
