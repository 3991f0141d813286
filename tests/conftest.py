"""Shared fixtures. Each area's fixtures live in a plugin module listed here."""

from __future__ import annotations

import os
from pathlib import Path

_TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"
if _TIKTOKEN.is_dir():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_TIKTOKEN))

pytest_plugins: list[str] = [
    "tests.fixtures_redis",
    "tests.fixtures_server",
    "tests.fixtures_secrets",
    "tests.fixtures_models",
    "tests.fixtures_real_server",
]
