"""Prompt token ids for an in-process engine: the model's chat template, applied once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.errors import ContextWindowExceededError
from .._core.models import ChatRequest
from ._continuation import template_flags


def template_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's messages as chat templates take them: OpenAI's shape, with text content
    (templates of text models expect strings) and ``developer`` read as ``system``."""
    messages = []
    for message in request.messages:
        item = message.to_openai()
        if item["role"] == "developer":
            item["role"] = "system"
        item["content"] = message.text()
        messages.append(item)
    return messages


INLINE_RENDER_CHARS = 8192


def renders_fast(request: ChatRequest) -> bool:
    """Whether the prompt is small enough to render on the event loop: a chat template over
    a few KB takes about 0.1 ms, less than the hop to a worker thread."""
    if request.tools:
        return False
    size = 0
    for message in request.messages:
        size += len(message.text())
        if size > INLINE_RENDER_CHARS:
            return False
    return True


def render_prompt(tokenizer: Any, request: ChatRequest, *, limit: int | None, deployment: str) -> list[int]:
    """Apply ``tokenizer``'s chat template; a prompt of ``limit`` tokens or more is refused.

    A request that continues its final assistant message (see :mod:`._continuation`)
    is rendered with that message left open and no generation prompt.
    """
    extra: dict[str, Any] = template_flags(request)
    if request.tools:
        extra["tools"] = [dict(t) for t in request.tools]
    ids = tokenizer.apply_chat_template(template_messages(request), tokenize=True, **extra)
    if isinstance(ids, Mapping):  # transformers 5 returns a BatchEncoding by default
        ids = ids["input_ids"]
    return checked([int(i) for i in ids], limit=limit, deployment=deployment)


def checked(prompt: list[int], *, limit: int | None, deployment: str) -> list[int]:
    """``prompt``, unless it has ``limit`` tokens or more."""
    if limit is not None and len(prompt) >= limit:
        message = f"prompt is {len(prompt)} tokens; the model takes {limit}"
        raise ContextWindowExceededError(message, deployment=deployment)
    return prompt
