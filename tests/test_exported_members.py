"""The public surface is exactly ``__all__``, and every name in it resolves."""

from __future__ import annotations

import subprocess
import sys

import llmprod


def test_all_is_sorted_and_resolves() -> None:
    assert llmprod.__all__ == sorted(llmprod.__all__, key=str)
    for name in llmprod.__all__:
        assert getattr(llmprod, name) is not None, name


def test_errors_report_the_package_as_their_module() -> None:
    assert llmprod.InvalidRequestError.__module__ == "llmprod"
    assert llmprod.RateLimitedError.__module__ == "llmprod"


def test_public_data_and_config_classes_have_resolvable_type_hints() -> None:
    import typing

    for cls in (
        llmprod.ChatResponse,
        llmprod.backends.ChatRequest,
        llmprod.backends.RequestMetadata,
        llmprod.Usage,
        llmprod.PII,
    ):
        assert typing.get_type_hints(cls), cls


def test_import_pulls_in_no_heavy_or_optional_dependency() -> None:
    heavy = ["httpx", "tenacity", "pybreaker", "cachetools", "tiktoken", "opentelemetry", "redis", "openai", "asyncio"]
    code = f"import sys, llmprod\nloaded = [m for m in {heavy!r} if m in sys.modules]\nprint(','.join(loaded))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
