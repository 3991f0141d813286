"""Prompt size and context windows, for the guards and the rate limiter. No I/O."""

from __future__ import annotations

from .._core.models import ChatRequest
from ..cost._tokens import TokenCount, count_request


def prompt_tokens(request: ChatRequest) -> TokenCount:
    """The prompt's tokens: tiktoken when its encoding is cached, else ~4 characters a token."""
    return count_request(request)


def context_window(model: str | None) -> int | None:
    """The model's context window from the price table, when it knows ``model``."""
    if not model:
        return None
    from ..cost._prices import context_window as lookup  # the price table loads on first use

    return lookup(model)
