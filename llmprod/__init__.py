"""llmprod: production-grade LLM calls.

    import llmprod
    client = llmprod.Client(llmprod.OpenAICompatible(model="gpt-4o-mini", api_key=...))
    r = client.chat("Summarize this ticket: ...", max_tokens=200)

Nothing heavy is imported here: backends (and httpx under them) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._client import AsyncClient, Client
from ._config import PII, Breaker, Budget, Cache, Guards, Hedge, RateLimit, Retry, Telemetry, Timeout
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
from ._types import Backend, Hook

if TYPE_CHECKING:
    from .backends.openai import OpenAICompatible
    from .backends.simulated import Latency, Simulated

# Public name -> module that defines it, imported on first access.
_LAZY = {
    "OpenAICompatible": "llmprod.backends.openai",
    "Simulated": "llmprod.backends.simulated",
    "Latency": "llmprod.backends.simulated",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("llmprod")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmprod' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "PII",
    "AccessDeniedError",
    "AllBackendsFailedError",
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
    "ConfigError",
    "ConnectError",
    "ContentPolicyError",
    "ContextWindowExceededError",
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
    "MalformedResponseError",
    "Message",
    "MissingDependencyError",
    "NotFoundError",
    "OpenAICompatible",
    "OutputRejectedError",
    "PIIRedacted",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimit",
    "RateLimitHit",
    "RateLimitedError",
    "RequestMetadata",
    "Retry",
    "RetryScheduled",
    "ServerError",
    "Simulated",
    "StreamInterruptedError",
    "Telemetry",
    "Timeout",
    "Usage",
]

for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type) and _obj.__module__.startswith("llmprod._"):
        _obj.__module__ = "llmprod"
