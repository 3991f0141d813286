"""Type checks of a client's keyword arguments: :class:`ConfigError` when an argument is
not the object it names (``retry=3``, ``hooks=[None]``), before any layer is built.

Each config object checks its own values (``config.py``); this checks the arguments
themselves. Kept apart from ``config.py``: it needs the access policy and the router,
which import the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._safety.access import AccessPolicy
from ..layers._routing import Router
from .backend import Backend
from .config import (
    PII,
    Breaker,
    Budget,
    Cache,
    Guards,
    RateLimit,
    Retry,
    Telemetry,
    Timeout,
    _callables,
    _sequence,
    _url,
)
from .deployment import Deployment
from .errors import ConfigError
from .stack import Insert


def check_client_options(options: Mapping[str, object]) -> None:
    """:class:`ConfigError` for a client keyword argument of the wrong type.

    ``options`` are ``AsyncClient``'s keyword arguments (any subset). Each config object
    checks its own values; this checks that each argument is the object it names.
    """
    kinds: dict[str, tuple[type, ...]] = {
        "retry": (Retry,),
        "breaker": (Breaker,),
        "timeout": (Timeout,),
        "cache": (Cache,),
        "pii": (PII,),
        "budget": (Budget,),
        "guards": (Guards,),
        "rate_limit": (RateLimit,),
        "access": (AccessPolicy,),
        "telemetry": (Telemetry, bool),
        "router": (Router,),
    }
    for name, value in options.items():
        if name in kinds:
            if value is None and name not in ("timeout", "telemetry"):
                continue
            if not isinstance(value, kinds[name]):
                wanted = " or ".join(f"llmprod.{k.__name__}" if k is not bool else "a bool" for k in kinds[name])
                raise ConfigError(f"must be {wanted}, got {type(value).__name__}", path=name)
        elif name == "hooks":
            _callables("hooks", value)
        elif name == "layers":
            _sequence("layers", value, of=Insert, what="a llmprod.layers.Insert")
        elif name == "fallback":
            if value is not None and not callable(value):
                raise ConfigError(f"must be callable or None, got {type(value).__name__}", path="fallback")
        elif name == "redis_url":
            _url("redis_url", value)
        elif name == "deployments" and value is not None:
            items = [value] if isinstance(value, Backend | Deployment) else value
            if isinstance(items, str | bytes) or not isinstance(items, Sequence):
                raise ConfigError(
                    f"must be a backend, a Deployment, or a list of them, got {type(value).__name__}",
                    path="deployments",
                )
            for i, item in enumerate(items):
                if not isinstance(item, Backend | Deployment):
                    raise ConfigError(
                        f"must be a backend or a Deployment, got {type(item).__name__}", path=f"deployments[{i}]"
                    )
