"""The one module that imports redis-py (extra ``redis``): clients with short timeouts.

Every Redis-backed store (cache, rate limits, budgets and spend, breaker state) gets its
client here, so timeouts and retries are decided in one place: a Redis that is down or
slow must cost a call milliseconds, never its deadline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import MissingDependencyError

if TYPE_CHECKING:
    import redis
    from redis.asyncio import Redis


def _module() -> Any:
    try:
        import redis
    except ImportError:
        raise MissingDependencyError("redis", "redis") from None
    return redis


def async_client(url: str, *, timeout: float, retries: bool = True) -> Redis:
    """An asyncio client. ``retries=False``: one try per command, no health checks."""
    _module()  # a clear MissingDependencyError when the extra is absent
    import redis.asyncio as aioredis

    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if not retries:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options.update(retry=Retry(NoBackoff(), 0), health_check_interval=0)
    client: Redis = aioredis.Redis.from_url(url, **options)
    return client


def sync_client(url: str, *, timeout: float) -> redis.Redis:
    """A blocking client, for pybreaker's storage (callers keep it off the event loop)."""
    client: redis.Redis = _module().Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return client


def errors() -> tuple[type[BaseException], ...]:
    """What a failing Redis raises: redis-py's errors, and the socket's."""
    return (_module().RedisError, OSError, TimeoutError)
