"""A stream of a real in-process engine, broken after N chunks, and resumed (``resume=True``).

Nothing breaks an in-process engine's stream on demand, so a thin wrapper does: it
hands on the engine's chunks and raises a connection error (what a dropped stream
raises) after the number of chunks it was told, for each of its next streams in turn.
Everything else is the engine's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import llmprod
from llmprod.backends import ChatChunk, ChatRequest, ChatResponse
from llmprod.errors import ProviderConnectionError


class Cutting:
    """``backend``, whose next streams break after ``cuts[0]``, ``cuts[1]``, ... chunks (then none do)."""

    continues = True

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.name = backend.name
        self.cuts: list[int] = []
        self.requests: list[ChatRequest] = []

    def continuation(self, request: ChatRequest, text: str) -> ChatRequest:
        return self.backend.continuation(request, text)  # type: ignore[no-any-return]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.backend.complete(request)  # type: ignore[no-any-return]

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        after = self.cuts.pop(0) if self.cuts else None
        async with aclosing(self.backend.stream(request)) as chunks:
            handed = 0
            async for chunk in chunks:
                if handed == after:
                    raise ProviderConnectionError("the test broke the stream", deployment=self.name)
                yield chunk
                handed += 1

    async def aclose(self) -> None:
        pass  # the engine belongs to the test


def resuming(backend: Cutting) -> llmprod.AsyncClient:
    retry = llmprod.Retry(attempts=2, initial=0.0, maximum=0.0)
    return llmprod.AsyncClient(backend, resume=True, retry=retry, breaker=None, telemetry=False)


async def streamed(client: llmprod.AsyncClient, prompt: str, **options: Any) -> tuple[list[str], ChatResponse]:
    texts: list[str] = []
    final = None
    async for chunk in client.stream(prompt, **options):
        texts.append(chunk.text)
        final = chunk.response
    assert final is not None
    return texts, final


async def resumed_at_every_cut(backend: Any, prompt: str, **options: Any) -> int:
    """Stream ``prompt`` (``max_tokens=24``) whole, then broken after each of its chunks in
    turn, and check that every resumed stream equals the whole one, continued from the
    tokens the engine generated with what was left of the budget. Returns at how many cuts
    the received text, tokenized again, differs from those tokens."""
    cutting = Cutting(backend)
    retokenized_otherwise = 0
    async with resuming(cutting) as client:
        uncut, whole = await streamed(client, prompt, max_tokens=24, **options)
        chunks = [t for t in uncut if t]
        assert len(chunks) > 10
        for after in range(1, len(chunks) + 1):  # the last: every text chunk arrived, the final one did not
            cutting.cuts = [after]
            texts, final = await streamed(client, prompt, max_tokens=24, **options)
            assert "".join(texts) == final.text == whole.text, f"cut after {after} chunks"
            assert final.finish_reason == "length"
            assert [(a.outcome, a.error) for a in final.attempt_log] == [
                ("error", "ProviderConnectionError"),
                ("ok", None),
            ]
            continuation = cutting.requests[-1]
            exact = backend._resume(continuation)  # the tokens the engine continued from
            assert exact is not None and exact.left == 24 - (len(exact.prompt) - whole.usage.prompt_tokens)
            retokenized_otherwise += backend._render(continuation) != exact.prompt
    return retokenized_otherwise
