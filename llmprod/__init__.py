"""llmprod: production-grade LLM calls.

    import llmprod
    client = llmprod.Client(llmprod.OpenAICompatible(model="gpt-4o-mini", api_key=...))
    r = client.chat("Summarize this ticket: ...", max_tokens=200)

Nothing heavy is imported here: backends (and httpx under them) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._access import AccessPolicy, ApiKey
    from ._client import AsyncClient, Client
    from ._config import PII, Breaker, Budget, Cache, Guards, Hedge, RateLimit, Retry, Telemetry, Timeout
    from ._cost_report import CostReport
    from ._deployment import Deployment
    from ._events import (
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
    from ._exceptions import (
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
    from ._gpu_cost import gpu_cost_per_million_tokens
    from ._ledger import Ledger, RedisLedger
    from ._models import (
        AttemptRecord,
        CacheControl,
        ChatChunk,
        ChatRequest,
        ChatResponse,
        Message,
        RequestMetadata,
        Usage,
    )
    from ._pricing import Price, prices
    from ._routing import Router
    from ._types import Backend, Hook
    from ._wrap import wrap
    from .backends.anthropic import Anthropic
    from .backends.cohere import Cohere
    from .backends.openai import OpenAICompatible
    from .backends.simulated import Latency, Simulated
    from .backends.transformers import Transformers
    from .backends.vllm import VLLM

# Public name -> module that defines it, imported on first access.
_LAZY = {
    "AccessPolicy": "llmprod._access",
    "ApiKey": "llmprod._access",
    "AsyncClient": "llmprod._client",
    "Router": "llmprod._routing",
    "wrap": "llmprod._wrap",
    "Client": "llmprod._client",
    "PII": "llmprod._config",
    "Breaker": "llmprod._config",
    "Budget": "llmprod._config",
    "Cache": "llmprod._config",
    "Guards": "llmprod._config",
    "Hedge": "llmprod._config",
    "RateLimit": "llmprod._config",
    "Retry": "llmprod._config",
    "Telemetry": "llmprod._config",
    "Timeout": "llmprod._config",
    "Deployment": "llmprod._deployment",
    "AttemptFinished": "llmprod._events",
    "BreakerStateChanged": "llmprod._events",
    "BudgetAlert": "llmprod._events",
    "CacheLookup": "llmprod._events",
    "CallFinished": "llmprod._events",
    "CallStarted": "llmprod._events",
    "Event": "llmprod._events",
    "FallbackUsed": "llmprod._events",
    "Feedback": "llmprod._events",
    "GuardTriggered": "llmprod._events",
    "HedgeSent": "llmprod._events",
    "PIIRedacted": "llmprod._events",
    "RateLimitHit": "llmprod._events",
    "RetryScheduled": "llmprod._events",
    "AccessDeniedError": "llmprod._exceptions",
    "AllBackendsFailedError": "llmprod._exceptions",
    "AuthenticationError": "llmprod._exceptions",
    "BadRequestError": "llmprod._exceptions",
    "BudgetExceededError": "llmprod._exceptions",
    "CircuitOpenError": "llmprod._exceptions",
    "ConfigError": "llmprod._exceptions",
    "ConnectError": "llmprod._exceptions",
    "ContentPolicyError": "llmprod._exceptions",
    "ContextWindowExceededError": "llmprod._exceptions",
    "DeadlineExceededError": "llmprod._exceptions",
    "InputRejectedError": "llmprod._exceptions",
    "InvalidRequestError": "llmprod._exceptions",
    "LLMProdError": "llmprod._exceptions",
    "MalformedResponseError": "llmprod._exceptions",
    "MissingDependencyError": "llmprod._exceptions",
    "NotFoundError": "llmprod._exceptions",
    "OutputRejectedError": "llmprod._exceptions",
    "ProviderConnectionError": "llmprod._exceptions",
    "ProviderError": "llmprod._exceptions",
    "ProviderTimeoutError": "llmprod._exceptions",
    "RateLimitedError": "llmprod._exceptions",
    "ServerError": "llmprod._exceptions",
    "StreamInterruptedError": "llmprod._exceptions",
    "AttemptRecord": "llmprod._models",
    "CacheControl": "llmprod._models",
    "ChatChunk": "llmprod._models",
    "ChatRequest": "llmprod._models",
    "ChatResponse": "llmprod._models",
    "Message": "llmprod._models",
    "RequestMetadata": "llmprod._models",
    "Usage": "llmprod._models",
    "Backend": "llmprod._types",
    "Hook": "llmprod._types",
    "OpenAICompatible": "llmprod.backends.openai",
    "Anthropic": "llmprod.backends.anthropic",
    "Cohere": "llmprod.backends.cohere",
    "VLLM": "llmprod.backends.vllm",
    "Transformers": "llmprod.backends.transformers",
    "Simulated": "llmprod.backends.simulated",
    "Latency": "llmprod.backends.simulated",
    "CostReport": "llmprod._cost_report",
    "Ledger": "llmprod._ledger",
    "RedisLedger": "llmprod._ledger",
    "Price": "llmprod._pricing",
    "prices": "llmprod._pricing",
    "gpu_cost_per_million_tokens": "llmprod._gpu_cost",
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
