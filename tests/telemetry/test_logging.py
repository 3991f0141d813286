"""The logging hook: one structured line per call, never prompt text or keys."""

from __future__ import annotations

import logging

import pytest

from llmprod import AsyncClient
from llmprod.backends import ChatRequest
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


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_a_failed_call_is_logged_at_warning(caplog: pytest.LogCaptureFixture, mode: str) -> None:
    caplog.set_level(logging.WARNING, logger="llmprod")  # what an operator who wants only problems sets

    def answer(request: ChatRequest) -> str | Exception:
        return "ok" if request.messages[-1].content == "fine" else AuthenticationError("bad key", status=401)

    async with AsyncClient(FakeBackend(answer, name="primary"), retry=None, breaker=None) as client:
        with pytest.raises(AuthenticationError):
            if mode == "chat":
                await client.chat(SECRET_PROMPT)
            else:
                [c async for c in client.stream(SECRET_PROMPT)]
        await client.chat("fine")  # a success is INFO: not shown at this level
    (record,) = [rec for rec in caplog.records if rec.getMessage().startswith("llmprod call")]
    assert record.levelno == logging.WARNING
    assert record.llmprod["error"] == "AuthenticationError" and record.llmprod["outcome"] == "error"  # type: ignore[attr-defined]
    assert record.llmprod["stream"] is (mode == "stream")  # type: ignore[attr-defined]
    assert "jo@example.com" not in record.getMessage()


async def test_quiet_when_the_level_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="llmprod")
    async with AsyncClient(FakeBackend(lambda r: "ok"), retry=None, breaker=None) as client:
        await client.chat("hello")
    assert [rec for rec in caplog.records if rec.name == "llmprod"] == []
