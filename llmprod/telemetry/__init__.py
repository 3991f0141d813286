"""Observability: OpenTelemetry spans and metrics, Prometheus, logging, in-process stats.

This package is the only place that imports ``opentelemetry`` (the API; users bring the
SDK and exporters), in ``_otel.py``; a client loads it when built with telemetry on.
Without an SDK, no OpenTelemetry call is made at all. Prometheus is opt-in (the
``prometheus`` extra)::

    from llmprod.telemetry import PrometheusHook, serve_metrics
    client = llmprod.Client(hooks=[PrometheusHook()])
    serve_metrics(9464)            # or mount metrics_asgi_app() in your own server
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ..layers._routing import SLO_TARGETS as SLO_TARGETS
    from ._logging import LoggingHook as LoggingHook
    from ._otel import Endpoint as Endpoint
    from ._otel import OpenTelemetryHook as OpenTelemetryHook
    from ._otel import default_hooks as default_hooks
    from ._prometheus import PrometheusHook as PrometheusHook
    from ._prometheus import metrics_asgi_app as metrics_asgi_app
    from ._prometheus import metrics_wsgi_app as metrics_wsgi_app
    from ._prometheus import serve_metrics as serve_metrics
    from ._stats import Stats as Stats
    from ._stats import StatsHook as StatsHook
    from ._stats import Summary as Summary

__getattr__, __dir__ = exports(__package__, __file__, globals())
