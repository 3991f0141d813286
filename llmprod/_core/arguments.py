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
    """The conversation, instead of a prompt: mappings with ``role`` and ``content`` (or :class:`Message` objects)."""
    system: str
    """A system message, put first."""
    model: str
    """The model to ask for; the backend's own when omitted."""
    max_tokens: int
    """The most tokens the answer may have (1 to 1,000,000)."""
    temperature: float
    """Sampling temperature, 0 to 2."""
    top_p: float
    """Nucleus sampling: the probability mass to sample from, 0 to 1."""
    stop: str | Sequence[str]
    """A sequence, or several, at which the answer stops."""
    seed: int
    """A sampling seed, for providers that take one; a seeded request may be cached at any temperature."""
    presence_penalty: float
    """-2 to 2, as OpenAI defines it."""
    frequency_penalty: float
    """-2 to 2, as OpenAI defines it."""
    tools: Sequence[Mapping[str, Any]]
    """Tool (function) definitions, in OpenAI's format."""
    tool_choice: str | Mapping[str, Any]
    """``"auto"``, ``"none"``, ``"required"``, or the tool to call, in OpenAI's format."""
    response_format: Mapping[str, Any]
    """The answer's format, in OpenAI's form (``{"type": "json_object"}``)."""
    user: str
    """An end user's id, passed to the provider."""
    extra_body: Mapping[str, Any]
    """Provider-specific fields, sent as they are."""
    timeout: float
    """This call's overall deadline in seconds (default: the SLO class's target, else ``Timeout.total``)."""
    tenant: str
    """Whom the call is for: the cache is kept per tenant, and budgets and rate limits can be."""
    api_key: str
    """Your caller's key: checked by the client's access policy; rate limits are per key by default."""
    tags: Mapping[str, str]
    """Labels for the cost ledger, metrics and budgets (``Budget(per="tag:NAME")``)."""
    cache: CacheControl
    """This call's cache switches: lookup, store, ttl."""
    slo: str
    """An SLO class (``"realtime"``, ``"interactive"``, ``"batch"``): it sets the default deadline,
    and the router tries first the deployments that meet it."""
    region: str
    """The caller's region: the router tries deployments there first."""
    tier: str
    """A router tier (``"small"``, ``"large"``, ...) to use instead of the classifier's choice."""


CHAT_ARGS = frozenset(ChatArgs.__annotations__)
