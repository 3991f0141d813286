"""Shared fixtures. Each area's fixtures live in a plugin module listed here."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.fixtures_redis",
    "tests.fixtures_server",
    "tests.fixtures_secrets",
    "tests.fixtures_models",
    "tests.fixtures_real_server",
]
