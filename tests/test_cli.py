"""The command line: --help, --version, demo, bench against the loopback server, prices, check-config."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from llmprod.cli import main
from llmprod.cli._loadgen import progress_line
from llmprod.telemetry._charts import text_histogram
from llmprod.testing import Fault, FaultServer


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmprod", *args], capture_output=True, text=True, timeout=timeout)


def test_help_explains_each_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("demo", "bench", "prices", "check-config"):
        assert command in out.stdout
    assert "simulated provider" in run("demo", "--help").stdout


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"llmprod {version('llmprod')}"


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
    png = tmp_path / "latency.png"
    code = main(
        [
            "bench",
            sync_fault_server.url,
            "--model",
            "sim-model",
            "--requests",
            "40",
            "--concurrency",
            "8",
            "--stream",
            "--json",
            str(result_path),
            "--png",
            str(png),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "p99" in printed and "ttft" in printed
    histogram = [line for line in printed[printed.index("latency histogram") :].splitlines()[1:] if "|" in line]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in histogram) == 39  # every successful request, in bins
    assert any("█" in line for line in histogram)
    # progress on stderr (not a terminal here: a line per 10%), with a rate and an ETA
    progress = [line for line in captured.err.splitlines() if "requests" in line]
    assert len(progress) == 11 and "40/40 requests 100%" in progress[-1]
    assert all("req/s" in line and "ETA" in line for line in progress)
    data = json.loads(result_path.read_text())
    assert data["requests"] == 40 and data["errors"] == 1
    assert len(sync_fault_server.requests) == 40  # the bench never retries: it measures the endpoint
    assert all(r.body["model"] == "sim-model" for r in sync_fault_server.requests)
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not png.exists() and "matplotlib is not installed" in printed


def test_bench_needs_a_model() -> None:
    out = run("bench", "http://127.0.0.1:9/v1")
    assert out.returncode == 2 and "--model" in out.stderr


def test_progress_line_and_text_histogram() -> None:
    assert progress_line(50, 200, 10.0) == "   50/200 requests  25%     5.0 req/s  ETA 30.0 s"
    assert progress_line(0, 200, 0.0).endswith("ETA -")
    lines = text_histogram([10.0, 11.0, 12.0, 30.0], count=2, width=10)
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["3", "1"]
    assert lines[0].split("|")[1].startswith("█" * 10)  # the fullest bin fills the width


def test_prices_lists_models_and_one_model() -> None:
    everything = run("prices")
    assert everything.returncode == 0 and "gpt-4o" in everything.stdout
    assert "models from llmprod/data/prices.toml (genai-prices" in everything.stdout
    one = run("prices", "gpt-4o-mini-2024-07-18")
    assert one.returncode == 0 and "gpt-4o-mini" in one.stdout and "source: genai-prices" in one.stdout


def test_prices_for_an_unknown_model_says_so_and_suggests_close_names() -> None:
    out = run("prices", "gpt-4o-mni")
    assert out.returncode == 1 and out.stdout == ""
    assert "no price for model 'gpt-4o-mni'" in out.stderr
    suggestions = out.stderr.split("did you mean: ", 1)[1].splitlines()[0].split(", ")
    assert "gpt-4o-mini" in suggestions


def test_prices_into_a_closed_pipe_ends_quietly() -> None:
    """`llmprod prices | head -1`: the reader leaves after one line while the listing is still being written."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ: a small pipe, so the writer is still writing when we leave
    child = subprocess.Popen(
        [sys.executable, "-m", "llmprod", "prices"], stdout=write_end, stderr=subprocess.PIPE, text=True
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.readline().startswith(b"model")
    _, stderr = child.communicate(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert child.returncode == 141


def test_check_config_prints_the_stack_or_the_key_path(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('deployments = [{ provider = "simulated", model = "sim-a" }]\n[cache]\nttl = 5\n')
    out = run("check-config", str(good))
    assert out.returncode == 0 and "cache" in out.stdout and "sim-a" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('deployments = [{ provider = "simulated", model = "sim-a" }]\n[retry]\nattempts = -1\n')
    out = run("check-config", str(bad))
    assert out.returncode == 2 and "retry.attempts" in out.stderr
