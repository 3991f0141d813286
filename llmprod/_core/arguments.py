"""The keyword arguments of ``chat`` and ``stream``, typed once for every client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from .models import CacheControl, Message


class ChatArgs(TypedDict, total=False):
    """What ``chat``/``stream`` take besides the prompt (all optional).

    The model's input and sampling: ``messages`` (instead of a prompt), ``system``,
    ``model``, ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``,
    ``presence_penalty``, ``frequency_penalty``, ``tools``, ``tool_choice``,
    ``response_format``, ``user``, and ``extra_body`` for provider-specific fields.
    About the call: ``timeout`` (its overall deadline, seconds), ``tenant``, ``api_key``,
    ``tags``, ``cache`` (a :class:`CacheControl`), ``slo``, ``region``, ``tier``.
    """

    messages: Sequence[Mapping[str, Any] | Message]
    system: str
    model: str
    max_tokens: int
    temperature: float
    top_p: float
    stop: str | Sequence[str]
    seed: int
    presence_penalty: float
    frequency_penalty: float
    tools: Sequence[Mapping[str, Any]]
    tool_choice: str | Mapping[str, Any]
    response_format: Mapping[str, Any]
    user: str
    extra_body: Mapping[str, Any]
    timeout: float
    tenant: str
    api_key: str
    tags: Mapping[str, str]
    cache: CacheControl
    slo: str
    region: str
    tier: str


CHAT_ARGS = frozenset(ChatArgs.__annotations__)
