"""What both GPU checks share: the pass/fail record, the prompts, the stream check."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from llmprod._core.models import ChatRequest, ChatResponse, Message


class Checks:
    """Prints each check as it runs and remembers the failures."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, name: str, ok: bool, detail: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            self.failures.append(name)


def asker(max_tokens: int) -> Callable[..., ChatRequest]:
    """``ask(i, tokens=max_tokens)``: question ``i``, answered greedily."""

    def ask(i: int, tokens: int = max_tokens) -> ChatRequest:
        question = f"Question {i}: explain why batching helps GPU inference, in detail."
        return ChatRequest(messages=(Message("user", question),), max_tokens=tokens, temperature=0.0)

    return ask


async def check_stream(backend: Any, request: ChatRequest, greedy: str, check: Checks) -> ChatResponse | None:
    """Stream ``request``: the chunks must add up to the same greedy text as complete()."""
    started = time.perf_counter()
    first_at: float | None = None
    pieces: list[str] = []
    final = None
    async for chunk in backend.stream(request):
        first_at = first_at or time.perf_counter() - started
        pieces.append(chunk.text)
        final = chunk.response or final
    check(
        "stream",
        final is not None and "".join(pieces) == final.text == greedy,
        f"{len(pieces)} chunks, first after {(first_at or 0) * 1000:.0f} ms; same greedy text as complete()",
    )
    check(
        "usage",
        final is not None and final.usage.prompt_tokens > 0 and final.usage.completion_tokens > 0,
        f"{final.usage if final else None}",
    )
    return final
