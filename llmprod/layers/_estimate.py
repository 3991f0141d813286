"""Prompt size and context windows, for the guards and the rate limiter. No I/O."""

from __future__ import annotations

import importlib
from typing import Any

from .._models import ChatRequest
from .._tokens import TokenCount, count_request


def prompt_tokens(request: ChatRequest) -> TokenCount:
    """The prompt's tokens: tiktoken when its encoding is cached, else ~4 characters a token."""
    return count_request(request)


def context_window(model: str | None) -> int | None:
    """The model's context window from the price table, when it has one for ``model``."""
    if not model:
        return None
    try:
        pricing: Any = importlib.import_module("llmprod._pricing")
    except ImportError:
        return None
    lookup = getattr(pricing, "context_window", None)
    if lookup is None:
        return None
    try:
        window = lookup(model)
    except LookupError:
        return None
    return int(window) if isinstance(window, int | float) and window > 0 else None
