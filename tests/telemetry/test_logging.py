"""The logging hook: one structured line per call, never prompt text or keys."""

from __future__ import annotations

import logging

import pytest

from llmprod import AsyncClient
from llmprod.errors import AuthenticationError
from llmprod.testing import FakeBackend

SECRET_PROMPT = "mail jo@example.com the plan"


async def test_one_line_per_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llmprod")
    backend = FakeBackend(lambda r: "fine", name="primary", model="m-log")
    async with AsyncClient(backend, retry=None, breaker=None) as client:
        r = await client.chat(SECRET_PROMPT, api_key="sk-live-abcdef", tenant="acme", slo="batch")
    (record,) = [rec for rec in caplog.records if rec.name == "llmprod" and rec.getMessage().startswith("llmprod call")]
    assert record.levelno == logging.INFO
    fields = record.llmprod  # type: ignore[attr-defined]
    assert fields["outcome"] == "ok" and fields["model"] == "m-log" and fields["deployment"] == "primary"
    assert fields["response_id"] == r.id and fields["output_tokens"] == 1 and fields["slo"] == "batch"
    assert "latency_ms=" in record.getMessage()
    everything = record.getMessage() + repr(fields)
    for secret in ("jo@example.com", "sk-live-abcdef", "acme", "the plan"):
        assert secret not in everything


async def test_failed_call_logs_its_outcome_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llmprod")
    backend = FakeBackend(lambda r: AuthenticationError("bad key", status=401), name="primary")
    async with AsyncClient(backend, retry=None, breaker=None) as client:
        with pytest.raises(AuthenticationError):
            await client.chat(SECRET_PROMPT)
    (record,) = [rec for rec in caplog.records if rec.getMessage().startswith("llmprod call")]
    assert record.levelno == logging.INFO
    assert record.llmprod["error"] == "AuthenticationError"  # type: ignore[attr-defined]
    assert "jo@example.com" not in record.getMessage()


async def test_quiet_when_the_level_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="llmprod")
    async with AsyncClient(FakeBackend(lambda r: "ok"), retry=None, breaker=None) as client:
        await client.chat("hello")
    assert [rec for rec in caplog.records if rec.name == "llmprod"] == []
