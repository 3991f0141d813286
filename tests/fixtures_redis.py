"""Pytest plugin: a real ``redis-server`` on a free loopback port, one per test.

Usage::

    def test_something(redis_server):
        client = redis.asyncio.Redis.from_url(redis_server.url)
        ...
        redis_server.kill()     # Redis dies mid-run
        redis_server.restart()  # and comes back on the same port, empty
        redis_server.pause()    # Redis hangs (SIGSTOP) until redis_server.resume()

The server runs without persistence (``--save "" --appendonly no``) in a temporary directory.
The test is skipped, with the reason, only when the ``redis-server`` binary is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_STARTUP_TIMEOUT_S = 10.0


def _find_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    fallback = Path("/usr/bin/redis-server")
    return str(fallback) if fallback.exists() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` process owned by one test."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self._binary = binary
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start on a free port (first start) or on the same port (restart)."""
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            port = self.port or _free_port()
            if self._spawn(port):
                self.port = port
                return
        raise RuntimeError(f"redis-server did not answer PING on port {port} within {_STARTUP_TIMEOUT_S} s")

    def _spawn(self, port: int) -> bool:
        # fmt: off
        args = [
            self._binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self._workdir), "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no",
        ]
        # fmt: on
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:  # exited: most likely the port was taken meanwhile
                self._proc = None
                return False
            if _answers_ping(port):
                return True
            time.sleep(0.02)
        self.kill()
        return False

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; the port is kept for restart()."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()  # SIGKILL works on a paused process too
            self._proc.wait(timeout=10)
            self._proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections hang, as with a Redis that is too slow."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Start again on the same port; the data is gone (no persistence)."""
        self.kill()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running ``redis-server`` on 127.0.0.1 with an empty database; stopped at teardown."""
    pytest.importorskip("redis", reason="the redis extra is not installed (pip install 'llmprod[redis]')")
    binary = _find_binary()
    if binary is None:
        pytest.skip("redis-server binary not found (install Debian's redis-server package)")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
