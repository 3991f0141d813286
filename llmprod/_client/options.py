"""A client's constructor arguments as its deployments and stack config.

The client and ``llmprod check-config`` both read them through :func:`stack_config`,
so the stack a config file describes is the stack a client built from it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._core.backend import Backend
from .._core.config import Breaker, Telemetry
from .._core.deployment import Deployment, as_deployment
from .._core.errors import LLMProdError
from .._core.option_checks import check_client_options
from .._core.stack import Insert, StackConfig
from .shared_state import check_redis_url, with_redis


def stack_config(
    deployments: Backend | Deployment | Sequence[Backend | Deployment] | None,
    *,
    telemetry: Telemetry | bool = True,
    redis_url: str | None = None,
    layers: Sequence[Insert] = (),
    **options: Any,
) -> tuple[list[Deployment], StackConfig]:
    """A client's deployments and stack config, from its constructor's arguments (the
    client and ``llmprod check-config`` read the same)."""
    # redis_url is checked by check_redis_url below, with a message about Redis URLs
    check_client_options({"deployments": deployments, "telemetry": telemetry, "layers": layers, **options})
    if deployments is None:
        from ..backends.simulated import Simulated

        deployments = [Simulated()]
    elif isinstance(deployments, Backend | Deployment):
        deployments = [deployments]
    if not deployments:
        raise LLMProdError("a client needs at least one deployment")
    if isinstance(telemetry, bool):
        telemetry = Telemetry(enabled=telemetry)
    if redis_url is not None:  # one Redis for every piece of shared state (shared_state.py)
        redis_url = check_redis_url(redis_url)
        for name in ("breaker", "cache", "budget", "rate_limit"):
            if name in options:
                options[name] = with_redis(options[name], redis_url)
            elif name == "breaker":
                options[name] = with_redis(Breaker(), redis_url)
    return [as_deployment(d) for d in deployments], StackConfig(telemetry=telemetry, layers=tuple(layers), **options)
