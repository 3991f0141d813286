"""Observability: OpenTelemetry spans and metrics, Prometheus, logging, in-process stats.

See :mod:`llmprod.telemetry._otel` for what a client records by default.
"""

from ._otel import (
    SLO_TARGETS,
    Endpoint,
    LoggingHook,
    OpenTelemetryHook,
    PrometheusHook,
    Stats,
    StatsHook,
    Summary,
    default_hooks,
    metrics_asgi_app,
    metrics_wsgi_app,
    serve_metrics,
)

__all__ = [
    "SLO_TARGETS",
    "Endpoint",
    "LoggingHook",
    "OpenTelemetryHook",
    "PrometheusHook",
    "Stats",
    "StatsHook",
    "Summary",
    "default_hooks",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "serve_metrics",
]
