"""Which version of the OpenTelemetry GenAI semantic conventions llmprod emits.

The GenAI conventions are still in development, and they renamed things after v1.36.0
(``gen_ai.system`` became ``gen_ai.provider.name``). As the conventions ask of GenAI
instrumentations, llmprod emits the v1.36.0 names by default, and the latest ones it
knows (v1.41.0) when ``OTEL_SEMCONV_STABILITY_OPT_IN`` lists ``gen_ai_latest_experimental``
(a comma-separated list, read when a client is built). Either way the instrumentation
scope carries llmprod's version and the schema URL of the conventions it follows.

What differs between the two:

- the provider attribute: ``gen_ai.system`` (v1.36.0) or ``gen_ai.provider.name``;
- the streaming span attributes ``gen_ai.request.stream`` and
  ``gen_ai.response.time_to_first_chunk`` (v1.41.0 only).

Additions that rename nothing are emitted in both: the client chunk metrics
(``gen_ai.client.operation.time_to_first_chunk``, ``...time_per_output_chunk``),
``server.port`` next to ``server.address``, and llmprod's own ``llmprod.*`` attributes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
LATEST_OPT_IN = "gen_ai_latest_experimental"
BASELINE_SCHEMA = "https://opentelemetry.io/schemas/1.36.0"
LATEST_SCHEMA = "https://opentelemetry.io/schemas/1.41.0"


@dataclass(frozen=True, slots=True)
class Conventions:
    latest: bool

    @property
    def schema_url(self) -> str:
        return LATEST_SCHEMA if self.latest else BASELINE_SCHEMA

    @property
    def provider_key(self) -> str:
        return "gen_ai.provider.name" if self.latest else "gen_ai.system"


def conventions(environ: dict[str, str] | None = None) -> Conventions:
    """The conventions the environment asks for."""
    value = (os.environ if environ is None else environ).get(OPT_IN, "")
    return Conventions(latest=LATEST_OPT_IN in {part.strip() for part in value.split(",")})


def version() -> str:
    """llmprod's version, for the instrumentation scope."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("llmprod")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
