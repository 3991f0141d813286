"""Pytest plugin: ``transformers serve``, a real third-party OpenAI-compatible server.

``real_server`` starts ``transformers serve <tiny model folder>`` (from
``transformers[serving]``) on a free loopback port, on CPU with one thread, once per
test session, and waits until ``GET /health`` answers. The folder is passed as the
server's pinned model, so requests name the folder's path as their model. The test
skips where the ``transformers`` CLI or its serving dependencies (fastapi, uvicorn)
are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmprod.testing import unused_port

STARTUP_TIMEOUT = 180.0


@dataclass(frozen=True)
class RealServer:
    """A running server: ``base_url`` ends in ``/v1``; ``model`` is the name it serves."""

    base_url: str
    model: str
    log: Path


def _cli() -> str | None:
    beside = Path(sys.executable).with_name("transformers")
    return str(beside) if beside.exists() else shutil.which("transformers")


@pytest.fixture(scope="session")
def real_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    from transformers.utils.import_utils import is_serve_available

    cli = _cli()
    if cli is None or not is_serve_available():
        pytest.skip("transformers serve needs `pip install 'transformers[serving]'`")
    port = unused_port()
    log = tmp_path_factory.mktemp("transformers-serve") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [cli, "serve", str(tiny_model), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health", process, log)
        yield RealServer(base_url=f"http://127.0.0.1:{port}/v1", model=str(tiny_model), log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # polling a starting process: nothing to wait on but the port
    pytest.fail(f"transformers serve was not ready after {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")
