"""The command line: --help, demo, bench against the loopback server, prices, check-config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmprod.cli import main
from llmprod.testing import Fault, FaultServer


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmprod", *args], capture_output=True, text=True, timeout=timeout)


def test_help_explains_each_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("demo", "bench", "prices", "check-config"):
        assert command in out.stdout
    assert "simulated provider" in run("demo", "--help").stdout


def test_demo_prints_the_report() -> None:
    out = run("demo", "--requests", "120", "--concurrency", "16", "--speed", "0.2")
    assert out.returncode == 0, out.stderr[-2000:]
    report = out.stdout
    for needle in ("llmprod demo report", "p50", "p99", "retries", "fallbacks", "breaker", "hits", "pii", "$"):
        assert needle in report, needle


def test_bench_against_the_loopback_server(
    sync_fault_server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_fault_server.push(Fault.error(500))  # one error among 40 requests
    result_path = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            sync_fault_server.url,
            "--requests",
            "40",
            "--concurrency",
            "8",
            "--stream",
            "--json",
            str(result_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "p99" in printed and "ttft" in printed
    data = json.loads(result_path.read_text())
    assert data["requests"] == 40 and data["errors"] == 1
    assert len(sync_fault_server.requests) == 40  # the bench never retries: it measures the endpoint


def test_prices_lists_models_and_one_model() -> None:
    everything = run("prices")
    assert everything.returncode == 0 and "gpt-4o" in everything.stdout
    one = run("prices", "gpt-4o-mini")
    assert one.returncode == 0 and "gpt-4o-mini" in one.stdout


def test_check_config_prints_the_stack_or_the_key_path(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('deployments = [{ provider = "simulated", model = "sim-a" }]\n[cache]\nttl = 5\n')
    out = run("check-config", str(good))
    assert out.returncode == 0 and "cache" in out.stdout and "sim-a" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('deployments = [{ provider = "simulated", model = "sim-a" }]\n[retry]\nattempts = -1\n')
    out = run("check-config", str(bad))
    assert out.returncode == 2 and "retry.attempts" in out.stderr
