"""Fault server benchmark: how much a request costs the loopback server itself.

    python bench/fault_server.py      # figures on stdout; JSON in $LLMPROD_BENCH_OUT/fault_server.json

One persistent connection, requests sent one after another by a minimal raw-socket
client (so the client's cost stays small and equal across rows). Baseline in the same
run: a bare asyncio server that answers every request with a fixed JSON body and does
nothing else. Rows: FaultServer answering JSON, streaming (SSE, 8 deltas + usage +
[DONE]), and the same JSON through httpx (what a client under test adds on top).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import httpx

from llmprod.testing import FaultServer

N = int(os.environ.get("LLMPROD_BENCH_N", "3000"))
BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello there"}]}).encode()
STREAM_BODY = json.dumps(
    {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
).encode()
FIXED = b'{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}'


async def bare_server() -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(FIXED), FIXED)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def request(port: int, body: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (port, len(body), body)
    )


async def raw_client(port: int, body: bytes, n: int) -> float:
    """Seconds per request over one keep-alive connection (reads a whole response each time)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = request(port, body)
    started = time.perf_counter()
    for _ in range(n):
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        if b"content-length:" in lower:
            await reader.readexactly(int(lower.split(b"content-length:")[1].split(b"\r\n")[0]))
        else:  # chunked: read until the terminating chunk
            await reader.readuntil(b"\r\n0\r\n\r\n")
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed / n


async def httpx_client(url: str, n: int) -> float:
    async with httpx.AsyncClient(base_url=url) as client:
        started = time.perf_counter()
        for _ in range(n):
            (await client.post("/chat/completions", content=BODY)).raise_for_status()
        return (time.perf_counter() - started) / n


async def measure() -> dict[str, float]:
    bare = await bare_server()
    bare_port = bare.sockets[0].getsockname()[1]
    await raw_client(bare_port, BODY, 200)  # warm up
    rows: dict[str, float] = {"bare asyncio server, fixed JSON (baseline)": await raw_client(bare_port, BODY, N)}
    bare.close()
    async with FaultServer() as server:
        await raw_client(server.port, BODY, 200)
        rows["FaultServer, JSON"] = await raw_client(server.port, BODY, N)
        rows["FaultServer, SSE stream (12 frames)"] = await raw_client(server.port, STREAM_BODY, N)
        rows["FaultServer, JSON, through httpx"] = await httpx_client(server.url, N // 3)
    return rows


def main() -> None:
    rows = asyncio.run(measure())
    baseline = next(iter(rows.values()))
    print(f"fault server: {N} sequential requests on one keep-alive connection")
    print(f"{'row':44} {'us/request':>11} {'req/s':>8} {'x baseline':>11}")
    for name, seconds in rows.items():
        print(f"{name:44} {seconds * 1e6:11.0f} {1 / seconds:8.0f} {seconds / baseline:11.2f}")
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        figures = {name: {"us_per_request": s * 1e6, "x_baseline": s / baseline} for name, s in rows.items()}
        Path(out, "fault_server.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
