"""Every error llmprod raises.

    LLMProdError
    ├── InvalidRequestError          bad input, caught before anything is sent
    │   └── UnsupportedOperationError  a deployment cannot do the call's operation
    ├── ConfigError                  a bad configuration value or file
    ├── MissingDependencyError       an optional extra is not installed
    ├── ClientClosedError            the client was closed (also a RuntimeError)
    ├── InputRejectedError           an input guard refused the prompt
    ├── OutputRejectedError          an output guard refused the answer
    ├── RateLimitedError             local limit or provider 429 (``source``, ``retry_after``)
    ├── BudgetExceededError          a hard budget would be overspent
    ├── AccessDeniedError            unknown API key, or a model the key may not use
    ├── CircuitOpenError             a replica's breaker is open: failing fast
    ├── ProviderError                the provider failed (``status``, ``retryable``)
    │   ├── AuthenticationError      401 / 403
    │   ├── NotFoundError            404
    │   ├── BadRequestError          400 / 422
    │   │   └── ContextWindowExceededError
    │   ├── ContentPolicyError       the provider refused on content grounds
    │   ├── ServerError              5xx, 529 (overloaded)
    │   ├── ProviderConnectionError  the connection failed
    │   │   └── ConnectError         ... before the request was sent (certainly unbilled)
    │   ├── ProviderTimeoutError     an attempt ran out of time
    │   └── MalformedResponseError   a 200 whose body is not JSON or not the expected shape (retryable)
    ├── DeadlineExceededError        the call's overall deadline passed (also a TimeoutError)
    ├── StreamInterruptedError       a stream broke after its first chunk (``partial_text``)
    └── AllBackendsFailedError       every deployment failed (``errors``)

No message contains an API key or unredacted prompt text: errors name the
deployment, the status and the provider's own message (which echoes no prompt for
the providers we speak to; the PII layer redacts it anyway when on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal


class LLMProdError(Exception):
    """Root of every llmprod error."""

    retryable: bool = False

    def __init__(self, message: str, *, deployment: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.deployment = deployment

    def __str__(self) -> str:
        if self.deployment:
            return f"{self.message} (deployment {self.deployment!r})"
        return self.message


class InvalidRequestError(LLMProdError, ValueError):
    """The request is malformed; ``field`` names the offending part. Nothing was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class UnsupportedOperationError(InvalidRequestError):
    """A deployment cannot do what the call asks (embeddings from a chat-only provider).

    Nothing was sent. A fallback chain moves on to its next deployment; the breaker does
    not count it.
    """

    def __init__(self, message: str, *, operation: str, deployment: str | None = None) -> None:
        super().__init__(message, field="operation")
        self.operation = operation
        self.deployment = deployment


class ConfigError(LLMProdError, ValueError):
    """A configuration value is wrong; ``path`` is the key path, e.g. ``deployments[0].model``."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class MissingDependencyError(LLMProdError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'llmprod[{extra}]'")
        self.package = package
        self.extra = extra


class ClientClosedError(LLMProdError, RuntimeError):
    """The client is closed: a call made after ``close()``, or one in flight when it closed."""


class InputRejectedError(LLMProdError):
    """An input guard refused the request; ``reason`` says which rule."""

    def __init__(self, reason: str, *, score: float | None = None) -> None:
        super().__init__(f"input rejected: {reason}")
        self.reason = reason
        self.score = score


class OutputRejectedError(LLMProdError):
    """An output guard refused the model's answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"output rejected: {reason}")
        self.reason = reason


class RateLimitedError(LLMProdError):
    """A rate limit was hit. ``source`` is ``"local"`` (our limiter) or ``"provider"`` (a 429).

    ``retry_after`` is seconds until a retry may succeed, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: Literal["local", "provider"],
        retry_after: float | None = None,
        deployment: str | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(message, deployment=deployment)
        self.source = source
        self.retry_after = retry_after
        self.status = status
        self.retryable = source == "provider"


class BudgetExceededError(LLMProdError):
    """A hard budget would be exceeded; nothing was sent."""

    def __init__(self, message: str, *, budget: str, limit: float, spent: float) -> None:
        super().__init__(message)
        self.budget = budget
        self.limit = limit
        self.spent = spent


class AccessDeniedError(LLMProdError):
    """The API key is unknown or may not use this model or route."""


class CircuitOpenError(LLMProdError):
    """The replica's breaker is open. Not retried: the balancer and fallback move on."""

    def __init__(self, deployment: str, *, replica: str | None = None, retry_after: float | None = None) -> None:
        where = f"replica {replica!r}" if replica else "all replicas"
        super().__init__(f"circuit open for {where}; failing fast", deployment=deployment)
        self.replica = replica
        self.retry_after = retry_after


class ProviderError(LLMProdError):
    """The provider failed. ``status`` is the HTTP status (None for transport errors)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool | None = None,
        deployment: str | None = None,
        retry_after: float | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message, deployment=deployment)
        self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        self.error_type = error_type


class AuthenticationError(ProviderError):
    """401/403: the key is wrong or lacks permission. Not retried."""


class NotFoundError(ProviderError):
    """404: unknown model or endpoint. Not retried."""


class BadRequestError(ProviderError):
    """400/422: the provider refused the request as malformed. Not retried."""


class ContextWindowExceededError(BadRequestError):
    """The prompt plus max_tokens exceeds the model's context window."""


class ContentPolicyError(ProviderError):
    """The provider refused the request on content-policy grounds."""


class ServerError(ProviderError):
    """5xx or 529 (overloaded): retryable."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The connection broke; the request may have reached the provider (maybe billed)."""

    retryable = True


class ConnectError(ProviderConnectionError):
    """The connection failed before the request was sent: certainly unbilled."""


class ProviderTimeoutError(ProviderError, TimeoutError):
    """One attempt ran out of time (connect, read, or the stream went idle)."""

    retryable = True


class MalformedResponseError(ProviderError):
    """The provider answered 200 with a body that is not JSON, not an event stream, or
    not the shape its API defines: a provider fault, retried like a 5xx, on chat and
    stream alike. The message never quotes the body (it may echo a key or the prompt)."""

    retryable = True


class DeadlineExceededError(LLMProdError, TimeoutError):
    """The call's overall deadline passed before an answer came."""


class StreamInterruptedError(LLMProdError):
    """A stream failed after its first chunk reached the caller.

    ``partial_text`` is what was received; ``__cause__`` is the failure.
    """

    def __init__(self, message: str, *, partial_text: str, deployment: str | None = None) -> None:
        super().__init__(message, deployment=deployment)
        self.partial_text = partial_text


class AllBackendsFailedError(LLMProdError):
    """Every deployment failed; ``errors`` holds each one's last error, in order."""

    def __init__(self, errors: Sequence[BaseException]) -> None:
        lines = "; ".join(f"{type(e).__name__}: {e}" for e in errors) or "no deployment was tried"
        super().__init__(f"all deployments failed: {lines}")
        self.errors = tuple(errors)


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt could succeed. Open breakers are never retried."""
    if isinstance(exc, CircuitOpenError):
        return False
    return isinstance(exc, LLMProdError) and exc.retryable


def backends_failed(exc: BaseException) -> bool:
    """Whether the backends failed (a stale cache entry or the client's last resort may
    answer instead), as opposed to an answer about the request the caller must see: bad
    input (ours or the provider's 400), a content-policy refusal, a guard, a budget,
    access, a local rate limit."""
    if isinstance(exc, RateLimitedError):
        return exc.source == "provider"
    if isinstance(exc, BadRequestError | ContentPolicyError):
        return False
    return isinstance(
        exc, ProviderError | AllBackendsFailedError | CircuitOpenError | DeadlineExceededError
    ) or not isinstance(exc, LLMProdError)
