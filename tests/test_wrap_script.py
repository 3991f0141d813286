"""Tried as a new user would: an existing OpenAI script, plus one ``wrap`` line, against a
provider failing 30% of requests (examples/openai_wrap.py, which CI also runs)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")

EXAMPLE = Path(__file__).parent.parent / "examples" / "openai_wrap.py"
SEEDS = range(10)


def test_every_call_of_the_existing_script_succeeds_with_30_percent_faults() -> None:
    example = runpy.run_path(str(EXAMPLE))
    sent = failed = 0
    for seed in SEEDS:
        results, requests, faults = example["run"](seed=seed, fault_rate=0.3)
        assert results["tool call"].startswith("get_weather(")
        assert results["embeddings"] == [8, 8]
        assert all(results[k] for k in ("chat", "stream", "after the tool", "responses"))
        sent += requests
        failed += faults
    print(
        f"\n{len(SEEDS)} runs of the script: {sent} requests, {failed} failed ({failed / sent:.0%}),",
        "every call succeeded",
    )
    assert 0.2 < failed / sent < 0.45


def test_the_same_script_fails_without_the_wrap_line() -> None:
    from llmprod.testing import Fault, FaultServer

    example = runpy.run_path(str(EXAMPLE))
    with FaultServer() as server:
        server.push(None, Fault.error(503))  # the second request fails once
        client = openai.OpenAI(base_url=server.url, api_key="sk-demo", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            example["existing_script"](client)
        client.close()
