"""llmprod: production-grade LLM calls.

    import llmprod
    client = llmprod.Client(llmprod.OpenAICompatible(model="gpt-4o-mini", api_key=...))
    r = client.chat("Summarize this ticket: ...", max_tokens=200)

The top level holds what a user types daily: the clients, their configuration, the
backends, ``wrap`` and the common errors. The rest lives in its module:
:mod:`llmprod.events` (events and hooks), :mod:`llmprod.errors` (every error),
:mod:`llmprod.cost` (prices, ledger), :mod:`llmprod.telemetry`, :mod:`llmprod.pii`,
:mod:`llmprod.backends` (writing a backend), :mod:`llmprod.layers` (writing a layer),
:mod:`llmprod.testing`. Nothing heavy is imported here: each name loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._lazy import exports

if TYPE_CHECKING:
    from ._client.async_client import AsyncClient as AsyncClient
    from ._client.sync_client import Client as Client
    from ._core.config import PII as PII
    from ._core.config import Breaker as Breaker
    from ._core.config import Budget as Budget
    from ._core.config import Cache as Cache
    from ._core.config import Guards as Guards
    from ._core.config import Hedge as Hedge
    from ._core.config import RateLimit as RateLimit
    from ._core.config import Retry as Retry
    from ._core.config import Telemetry as Telemetry
    from ._core.config import Timeout as Timeout
    from ._core.deployment import Deployment as Deployment
    from ._core.errors import AccessDeniedError as AccessDeniedError
    from ._core.errors import AllBackendsFailedError as AllBackendsFailedError
    from ._core.errors import BudgetExceededError as BudgetExceededError
    from ._core.errors import CircuitOpenError as CircuitOpenError
    from ._core.errors import ConfigError as ConfigError
    from ._core.errors import DeadlineExceededError as DeadlineExceededError
    from ._core.errors import InputRejectedError as InputRejectedError
    from ._core.errors import InvalidRequestError as InvalidRequestError
    from ._core.errors import LLMProdError as LLMProdError
    from ._core.errors import OutputRejectedError as OutputRejectedError
    from ._core.errors import ProviderError as ProviderError
    from ._core.errors import RateLimitedError as RateLimitedError
    from ._core.errors import StreamInterruptedError as StreamInterruptedError
    from ._core.models import CacheControl as CacheControl
    from ._core.models import ChatChunk as ChatChunk
    from ._core.models import ChatResponse as ChatResponse
    from ._core.models import EmbedResponse as EmbedResponse
    from ._core.models import Message as Message
    from ._core.models import Usage as Usage
    from ._safety.access import AccessPolicy as AccessPolicy
    from ._safety.access import ApiKey as ApiKey
    from ._wrap.wrap import wrap as wrap
    from .backends.anthropic import Anthropic as Anthropic
    from .backends.azure import AzureOpenAI as AzureOpenAI
    from .backends.cohere import Cohere as Cohere
    from .backends.openai import OpenAICompatible as OpenAICompatible
    from .backends.simulated import Simulated as Simulated
    from .backends.transformers import Transformers as Transformers
    from .backends.vllm import VLLM as VLLM
    from .layers._routing import Router as Router

_resolve, __dir__ = exports(__package__ or __name__, __file__, globals())

# Names that left the top level in 0.2: still importable (with a warning) until 0.3.
_MOVED = {
    **dict.fromkeys(
        (
            "AttemptFinished BreakerStateChanged BudgetAlert CacheLookup CallFinished CallStarted Event "
            "FallbackUsed Feedback GuardTriggered HedgeSent Hook PIIRedacted RateLimitHit RetryScheduled"
        ).split(),
        "llmprod.events",
    ),
    **dict.fromkeys(
        (
            "AuthenticationError BadRequestError ConnectError ContentPolicyError ContextWindowExceededError "
            "MalformedResponseError MissingDependencyError NotFoundError ProviderConnectionError "
            "ProviderTimeoutError ServerError"
        ).split(),
        "llmprod.errors",
    ),
    **dict.fromkeys("CostReport Ledger RedisLedger Price prices gpu_cost_per_million_tokens".split(), "llmprod.cost"),
    **dict.fromkeys("Backend ChatRequest RequestMetadata AttemptRecord Latency".split(), "llmprod.backends"),
}
_SUBMODULES = frozenset({"backends", "cost", "errors", "events", "layers", "pii", "telemetry", "testing"})


def __getattr__(name: str) -> Any:
    import importlib

    if name == "__version__":
        from importlib.metadata import version

        return version("llmprod")
    if name in _SUBMODULES:
        return importlib.import_module(f"llmprod.{name}")
    home = _MOVED.get(name)
    if home is not None:
        import warnings

        warnings.warn(
            f"llmprod.{name} moved to {home}.{name}; the top-level name goes away in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)
    value = _resolve(name)
    if isinstance(value, type) and issubclass(value, BaseException) and value.__module__.startswith("llmprod._"):
        # Tracebacks then say llmprod.RateLimitedError. Only errors: a class's __module__
        # is where typing.get_type_hints (and pydantic) resolve its annotations.
        value.__module__ = "llmprod"
    return value
