"""llmprod: production-grade LLM calls.

    import llmprod
    client = llmprod.Client(llmprod.OpenAICompatible(model="gpt-4o-mini", api_key=...))
    r = client.chat("Summarize this ticket: ...", max_tokens=200)

Nothing heavy is imported here: backends (and httpx under them) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client.client import AsyncClient, Client
    from ._core.backend import Backend, Hook
    from ._core.config import PII, Breaker, Budget, Cache, Guards, Hedge, RateLimit, Retry, Telemetry, Timeout
    from ._core.deployment import Deployment
    from ._core.errors import (
        AccessDeniedError,
        AllBackendsFailedError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        CircuitOpenError,
        ConfigError,
        ConnectError,
        ContentPolicyError,
        ContextWindowExceededError,
        DeadlineExceededError,
        InputRejectedError,
        InvalidRequestError,
        LLMProdError,
        MalformedResponseError,
        MissingDependencyError,
        NotFoundError,
        OutputRejectedError,
        ProviderConnectionError,
        ProviderError,
        ProviderTimeoutError,
        RateLimitedError,
        ServerError,
        StreamInterruptedError,
    )
    from ._core.events import (
        AttemptFinished,
        BreakerStateChanged,
        BudgetAlert,
        CacheLookup,
        CallFinished,
        CallStarted,
        Event,
        FallbackUsed,
        Feedback,
        GuardTriggered,
        HedgeSent,
        PIIRedacted,
        RateLimitHit,
        RetryScheduled,
    )
    from ._core.models import (
        AttemptRecord,
        CacheControl,
        ChatChunk,
        ChatRequest,
        ChatResponse,
        Message,
        RequestMetadata,
        Usage,
    )
    from ._safety.access import AccessPolicy, ApiKey
    from ._wrap.openai import wrap
    from .backends.anthropic import Anthropic
    from .backends.cohere import Cohere
    from .backends.openai import OpenAICompatible
    from .backends.simulated import Latency, Simulated
    from .backends.transformers import Transformers
    from .backends.vllm import VLLM
    from .cost._gpu import gpu_cost_per_million_tokens
    from .cost._ledger import Ledger, RedisLedger
    from .cost._prices import Price, prices
    from .cost._report import CostReport
    from .layers._routing import Router

# Public name -> module that defines it, imported on first access.
_LAZY = {
    "AccessPolicy": "llmprod._safety.access",
    "ApiKey": "llmprod._safety.access",
    "AsyncClient": "llmprod._client.client",
    "Router": "llmprod.layers._routing",
    "wrap": "llmprod._wrap.openai",
    "Client": "llmprod._client.client",
    "PII": "llmprod._core.config",
    "Breaker": "llmprod._core.config",
    "Budget": "llmprod._core.config",
    "Cache": "llmprod._core.config",
    "Guards": "llmprod._core.config",
    "Hedge": "llmprod._core.config",
    "RateLimit": "llmprod._core.config",
    "Retry": "llmprod._core.config",
    "Telemetry": "llmprod._core.config",
    "Timeout": "llmprod._core.config",
    "Deployment": "llmprod._core.deployment",
    "AttemptFinished": "llmprod._core.events",
    "BreakerStateChanged": "llmprod._core.events",
    "BudgetAlert": "llmprod._core.events",
    "CacheLookup": "llmprod._core.events",
    "CallFinished": "llmprod._core.events",
    "CallStarted": "llmprod._core.events",
    "Event": "llmprod._core.events",
    "FallbackUsed": "llmprod._core.events",
    "Feedback": "llmprod._core.events",
    "GuardTriggered": "llmprod._core.events",
    "HedgeSent": "llmprod._core.events",
    "PIIRedacted": "llmprod._core.events",
    "RateLimitHit": "llmprod._core.events",
    "RetryScheduled": "llmprod._core.events",
    "AccessDeniedError": "llmprod._core.errors",
    "AllBackendsFailedError": "llmprod._core.errors",
    "AuthenticationError": "llmprod._core.errors",
    "BadRequestError": "llmprod._core.errors",
    "BudgetExceededError": "llmprod._core.errors",
    "CircuitOpenError": "llmprod._core.errors",
    "ConfigError": "llmprod._core.errors",
    "ConnectError": "llmprod._core.errors",
    "ContentPolicyError": "llmprod._core.errors",
    "ContextWindowExceededError": "llmprod._core.errors",
    "DeadlineExceededError": "llmprod._core.errors",
    "InputRejectedError": "llmprod._core.errors",
    "InvalidRequestError": "llmprod._core.errors",
    "LLMProdError": "llmprod._core.errors",
    "MalformedResponseError": "llmprod._core.errors",
    "MissingDependencyError": "llmprod._core.errors",
    "NotFoundError": "llmprod._core.errors",
    "OutputRejectedError": "llmprod._core.errors",
    "ProviderConnectionError": "llmprod._core.errors",
    "ProviderError": "llmprod._core.errors",
    "ProviderTimeoutError": "llmprod._core.errors",
    "RateLimitedError": "llmprod._core.errors",
    "ServerError": "llmprod._core.errors",
    "StreamInterruptedError": "llmprod._core.errors",
    "AttemptRecord": "llmprod._core.models",
    "CacheControl": "llmprod._core.models",
    "ChatChunk": "llmprod._core.models",
    "ChatRequest": "llmprod._core.models",
    "ChatResponse": "llmprod._core.models",
    "Message": "llmprod._core.models",
    "RequestMetadata": "llmprod._core.models",
    "Usage": "llmprod._core.models",
    "Backend": "llmprod._core.backend",
    "Hook": "llmprod._core.backend",
    "OpenAICompatible": "llmprod.backends.openai",
    "Anthropic": "llmprod.backends.anthropic",
    "Cohere": "llmprod.backends.cohere",
    "VLLM": "llmprod.backends.vllm",
    "Transformers": "llmprod.backends.transformers",
    "Simulated": "llmprod.backends.simulated",
    "Latency": "llmprod.backends.simulated",
    "CostReport": "llmprod.cost._report",
    "Ledger": "llmprod.cost._ledger",
    "RedisLedger": "llmprod.cost._ledger",
    "Price": "llmprod.cost._prices",
    "prices": "llmprod.cost._prices",
    "gpu_cost_per_million_tokens": "llmprod.cost._gpu",
}


_SUBMODULES = frozenset({"pii", "telemetry", "testing", "backends", "layers"})


def __getattr__(name: str) -> Any:
    import importlib

    if name == "__version__":
        from importlib.metadata import version

        return version("llmprod")
    if name in _SUBMODULES:
        return importlib.import_module(f"llmprod.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmprod' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if isinstance(value, type) and issubclass(value, BaseException) and value.__module__.startswith("llmprod._"):
        # Tracebacks then say llmprod.RateLimitedError. Only errors: a class's __module__
        # is where typing.get_type_hints (and pydantic) resolve its annotations.
        value.__module__ = "llmprod"
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])


__all__ = [
    "AccessDeniedError",
    "AccessPolicy",
    "AllBackendsFailedError",
    "Anthropic",
    "ApiKey",
    "AsyncClient",
    "AttemptFinished",
    "AttemptRecord",
    "AuthenticationError",
    "Backend",
    "BadRequestError",
    "Breaker",
    "BreakerStateChanged",
    "Budget",
    "BudgetAlert",
    "BudgetExceededError",
    "Cache",
    "CacheControl",
    "CacheLookup",
    "CallFinished",
    "CallStarted",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "CircuitOpenError",
    "Client",
    "Cohere",
    "ConfigError",
    "ConnectError",
    "ContentPolicyError",
    "ContextWindowExceededError",
    "CostReport",
    "DeadlineExceededError",
    "Deployment",
    "Event",
    "FallbackUsed",
    "Feedback",
    "GuardTriggered",
    "Guards",
    "Hedge",
    "HedgeSent",
    "Hook",
    "InputRejectedError",
    "InvalidRequestError",
    "LLMProdError",
    "Latency",
    "Ledger",
    "MalformedResponseError",
    "Message",
    "MissingDependencyError",
    "NotFoundError",
    "OpenAICompatible",
    "OutputRejectedError",
    "PII",
    "PIIRedacted",
    "Price",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimit",
    "RateLimitHit",
    "RateLimitedError",
    "RedisLedger",
    "RequestMetadata",
    "Retry",
    "RetryScheduled",
    "Router",
    "ServerError",
    "Simulated",
    "StreamInterruptedError",
    "Telemetry",
    "Timeout",
    "Transformers",
    "Usage",
    "VLLM",
    "gpu_cost_per_million_tokens",
    "prices",
    "wrap",
]
