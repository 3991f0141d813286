"""A fast loopback OpenAI-compatible server for the peer benchmark, and its capacity probe.

    python bench/_peers/server.py serve          # prints "PORT <n>", serves until stdin closes
    python bench/_peers/server.py probe PORT     # prints the server's capacity as JSON

The server is a bare asyncio ``Protocol``: it parses just enough HTTP/1.1 (keep-alive,
Content-Length bodies) to answer ``POST /v1/chat/completions`` with a fixed completion
and usage, or, when the body asks for a stream, 20 content chunks, a usage chunk and
``[DONE]`` in chunked transfer encoding. Every answer is prebuilt bytes, so the server
costs a few microseconds a call and is not what the clients' figures measure; the probe
proves it with the cheapest possible client (raw sockets, one request in flight per
connection).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

MODEL = "gpt-4o-mini"
ANSWER = "The capital of France is Paris."
CHUNKS = 20
_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')


def _completion() -> bytes:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
        },
        separators=(",", ":"),
    ).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _frame(payload: dict[str, object] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    event = f"data: {data}\n\n".encode()
    return f"{len(event):x}\r\n".encode() + event + b"\r\n"


def _stream() -> list[bytes]:
    def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    frames = [head + _frame(chunk({"role": "assistant", "content": "tok0 "}))]
    frames += [_frame(chunk({"content": f"tok{i} "})) for i in range(1, CHUNKS)]
    frames.append(_frame(chunk({}, "stop")))
    usage = {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 12 + CHUNKS}
    last = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": MODEL, "choices": [], "usage": usage}
    frames.append(_frame(last))
    frames.append(_frame("[DONE]") + b"0\r\n\r\n")
    return frames


COMPLETION = _completion()
STREAM = _stream()


class _Handler(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[end + 4 : total]
            self.buffer = self.buffer[total:]
            assert self.transport is not None
            if _STREAM_FLAG.search(body):
                for frame in STREAM:  # one write per frame, as a token server would send them
                    self.transport.write(frame)
            else:
                self.transport.write(COMPLETION)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Handler, "127.0.0.1", 0, backlog=2048)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    server.close()


_REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%s"
)


async def probe(port: int, *, connections: int = 64, seconds: float = 2.0) -> dict[str, float]:
    """Calls/s the server answers to the cheapest client: raw sockets, one request in flight each."""
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = _REQUEST % (len(body), body)
    done = 0

    async def worker(until: float) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < until:
            writer.write(request)
            await reader.readexactly(len(COMPLETION))
            done += 1
        writer.close()

    await asyncio.gather(*(worker(time.perf_counter() + 0.3) for _ in range(connections)))  # warm up
    done = 0
    started = time.perf_counter()
    await asyncio.gather(*(worker(started + seconds) for _ in range(connections)))
    return {"calls_per_s": done / (time.perf_counter() - started), "connections": connections}


def _run(main: Coroutine[Any, Any, T]) -> T:
    try:  # uvloop when installed (the bench extra): the server should be the cheapest part
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _run(serve())
    else:
        seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
        print(json.dumps(_run(probe(int(sys.argv[2]), seconds=seconds))))
