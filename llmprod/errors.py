"""Every error llmprod raises, in one tree (drawn in ``docs/errors.md``).

The common ones are also at the top level (``llmprod.RateLimitedError``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import exports

if TYPE_CHECKING:
    from ._client.config_file import ConfigFileError as ConfigFileError
    from ._core.errors import AccessDeniedError as AccessDeniedError
    from ._core.errors import AllBackendsFailedError as AllBackendsFailedError
    from ._core.errors import AuthenticationError as AuthenticationError
    from ._core.errors import BadRequestError as BadRequestError
    from ._core.errors import BudgetExceededError as BudgetExceededError
    from ._core.errors import CircuitOpenError as CircuitOpenError
    from ._core.errors import ClientClosedError as ClientClosedError
    from ._core.errors import ConfigError as ConfigError
    from ._core.errors import ConnectError as ConnectError
    from ._core.errors import ContentPolicyError as ContentPolicyError
    from ._core.errors import ContextWindowExceededError as ContextWindowExceededError
    from ._core.errors import DeadlineExceededError as DeadlineExceededError
    from ._core.errors import InputRejectedError as InputRejectedError
    from ._core.errors import InvalidRequestError as InvalidRequestError
    from ._core.errors import LLMProdError as LLMProdError
    from ._core.errors import MalformedResponseError as MalformedResponseError
    from ._core.errors import MissingDependencyError as MissingDependencyError
    from ._core.errors import NotFoundError as NotFoundError
    from ._core.errors import OutputRejectedError as OutputRejectedError
    from ._core.errors import ProviderConnectionError as ProviderConnectionError
    from ._core.errors import ProviderError as ProviderError
    from ._core.errors import ProviderTimeoutError as ProviderTimeoutError
    from ._core.errors import RateLimitedError as RateLimitedError
    from ._core.errors import ServerError as ServerError
    from ._core.errors import StreamInterruptedError as StreamInterruptedError
    from ._core.errors import UnsupportedOperationError as UnsupportedOperationError

__getattr__, __dir__ = exports(__package__, __file__, globals())
