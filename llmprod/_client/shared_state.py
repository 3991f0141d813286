"""One Redis for all the state that processes share, chosen once: ``redis_url``.

``AsyncClient(redis_url=...)`` (or ``[redis] url = ...`` in a config file) fills the
``redis_url`` of every configured :class:`Breaker`, :class:`Cache`, :class:`Budget` and
:class:`RateLimit` that does not name its own, and keeps the spend ledger's totals in
that Redis as well. It turns no layer on: a layer left off stays off, and one with its
own ``redis_url`` keeps it.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from .._core.config import Breaker, Budget, Cache, RateLimit
from .._core.errors import ConfigError

SharedConfig = TypeVar("SharedConfig", Breaker, Cache, Budget, RateLimit)

_SCHEMES = ("redis://", "rediss://", "unix://")


def check_redis_url(url: object, *, path: str = "redis_url") -> str:
    """``url`` if it is a Redis URL, else :class:`ConfigError` (which never shows the
    value: a Redis URL may hold a password)."""
    if not isinstance(url, str) or not url.startswith(_SCHEMES):
        raise ConfigError("expected a Redis URL: redis://, rediss:// or unix://", path=path)
    return url


def with_redis(config: SharedConfig | None, url: str) -> SharedConfig | None:
    """``config`` with ``redis_url=url`` unless it is off (None) or names its own."""
    if config is None or config.redis_url:
        return config
    return dataclasses.replace(config, redis_url=url)
