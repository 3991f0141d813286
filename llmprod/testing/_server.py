"""A loopback HTTP/1.1 provider server that injects faults: :class:`FaultServer`."""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import socket
import struct
import threading
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._core.models import Usage
from ._fault import Fault
from ._wire import Reply, Wire, WireError, WireRequest, builtin_wires

Planned = Fault | Reply | None

_NO_FAULT = Fault()
_VOCABULARY = (
    *("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"),
    *("kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"),
    *("uniform", "victor", "whiskey", "xray", "yankee", "zulu"),
)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_MALFORMED = b'{"id": "broken", "choices": [{"message": '
_MALFORMED_FRAME = b'data: {"choices": [{"delta": {"content": "unterminated\n\n'


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received. ``headers`` has lower-case names;
    ``body`` is the decoded JSON (None when the body was empty or not JSON)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    raw: bytes = field(repr=False)


def _tool_reply(request: WireRequest, start: int) -> Reply | None:
    """A call of the request's first tool, when the request requires one (``tool_choice``
    ``"required"``, or a named function or tool; Anthropic's ``any``): each string
    argument the tool declares gets a word."""
    body = request.body or {}
    choice = body.get("tool_choice")
    required = choice == "required" or (
        isinstance(choice, Mapping) and choice.get("type") in ("function", "any", "tool")
    )
    if not request.tools or not required:
        return None
    tool = request.tools[0]
    function: Mapping[str, Any] = tool["function"] if isinstance(tool.get("function"), Mapping) else tool
    schema = function.get("parameters") or tool.get("input_schema") or {}
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    arguments = {
        name: _VOCABULARY[(start + i) % len(_VOCABULARY)]
        for i, (name, spec) in enumerate((properties or {}).items())
        if isinstance(spec, Mapping) and spec.get("type") == "string"
    }
    call = {
        "id": f"call_{start:x}",
        "type": "function",
        "function": {"name": function.get("name"), "arguments": json.dumps(arguments, separators=(",", ":"))},
    }
    return Reply(tool_calls=[call], finish_reason="tool_calls")


class FaultServer:
    """A real HTTP server on loopback that speaks providers' wire formats and fails on demand.

    Use it as ``async with FaultServer() as server:`` or, from sync code, as
    ``with FaultServer() as server:`` (it then runs on a thread of its own).
    ``server.url`` is the OpenAI-style base URL (``http://127.0.0.1:PORT/v1``).

    Every request is answered with the next planned item: a :class:`Fault`, a
    :class:`Reply`, or None (the default answer). Plan with :meth:`push`,
    :meth:`script` and :meth:`always`; set the default answer with :meth:`reply`.
    Without a reply set, the answer is a few words derived from the prompt
    (deterministic, at most ``max_tokens`` words, usage counted one token a word), or,
    when the request requires a tool (``tool_choice="required"``), a call of its first
    tool. ``sleep`` is what the server awaits for a fault's ``delay`` and ``chunk_delay``
    (``asyncio.sleep``; a test can pass its own to see or control the pauses).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        wires: Sequence[Wire] | None = None,
        words: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.host = host
        self.port = port
        self.words = words
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.peak_connections = 0
        self._routes = {w.path: w for w in (wires if wires is not None else builtin_wires())}
        self._lock = threading.Lock()
        self._plan: deque[Planned] = deque()
        self._always: Planned = None
        self._reply: Reply | None = None
        self._count = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"FaultServer(url={self.url!r}, wires={sorted(self._routes)})"

    @property
    def base_url(self) -> str:
        """``http://host:port``, for clients that append ``/v1/...`` themselves."""
        return f"http://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections open right now.

        ``connections`` counts every one ever accepted: a pool that replaces a closed or
        idle-expired connection adds to it without ever holding more at once.
        ``peak_connections`` is the most that were open at the same time: the figure
        to hold a pool's ``max_connections`` against.
        """
        return len(self._tasks)

    @property
    def url(self) -> str:
        """The OpenAI-style base URL, ``http://host:port/v1``."""
        return f"{self.base_url}/v1"

    # -- planning (thread-safe) ------------------------------------------------------

    def push(self, *items: Planned, times: int = 1) -> None:
        """Queue answers for the next requests, in order (each repeated ``times``)."""
        with self._lock:
            for item in items:
                self._plan.extend([item] * times)

    def script(self, items: Iterable[Planned]) -> None:
        """Replace the queue with ``items``: one per coming request, in order."""
        with self._lock:
            self._plan = deque(items)

    def always(self, item: Planned) -> None:
        """The answer once the queue is empty (None: the default answer)."""
        with self._lock:
            self._always = item

    def reply(
        self,
        text: str | None = None,
        *,
        usage: Usage | None = None,
        finish_reason: str = "stop",
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Set the default answer; with no arguments, go back to the derived one."""
        with self._lock:
            if text is None and tool_calls is None and usage is None:
                self._reply = None
            else:
                self._reply = Reply(text=text or "", usage=usage, finish_reason=finish_reason, tool_calls=tool_calls)

    def reset(self) -> None:
        """Forget recorded requests, planned answers and the default reply."""
        with self._lock:
            self.requests.clear()
            self.peak_connections = len(self._tasks)
            self._plan.clear()
            self._always = None
            self._reply = None

    def _next(self) -> tuple[Planned, Reply | None, int]:
        with self._lock:
            self._count += 1
            item = self._plan.popleft() if self._plan else self._always
            return item, self._reply, self._count

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> FaultServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> FaultServer:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._thread = threading.Thread(target=run, name="llmprod-fault-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = self._thread = None

    # -- HTTP ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.peak_connections = max(self.peak_connections, len(self._tasks))
        keep = False
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, version = [*lines[0].split(" "), "", ""][:3]
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                raw = await _read_body(reader, headers)
                wants_close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                keep = await self._respond(method, path, headers, raw, reader, writer, wants_close)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # Cancelled by aclose(): end quietly (on 3.11 a cancelled handler task is logged).
            if self._server is not None:
                raise
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _respond(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        wants_close: bool,
    ) -> bool:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(RecordedRequest(method, path, headers, body, raw))
        planned, default_reply, count = self._next()
        fault = planned if isinstance(planned, Fault) else _NO_FAULT
        if fault.delay:
            await self._sleep(fault.delay)
        if fault.hang:
            await reader.read()
            return False
        if fault.drop == "reset" and fault.after is None:
            _reset(writer)
            return False
        route, query = path.partition("?")[::2]
        if route.startswith("/openai/"):  # Azure OpenAI's paths reach the OpenAI wires
            route, body, refusal = _azure(route, query, headers, body)
            if refusal is not None:
                _write_json(writer, refusal[0], {"error": {"code": str(refusal[0]), "message": refusal[1]}})
                return not wants_close
        wire = self._routes.get(route)
        keep = not wants_close and not fault.close
        if wire is None or method != "POST":
            wire = wire or _fallback_wire(self._routes)
            status = 404 if method == "POST" else 405
            _write_json(writer, status, wire.error(status, f"no route for {method} {path}", "not_found_error", None))
            return not wants_close
        if fault.status != 200 or fault.body is not None:
            await self._error(wire, fault, writer, wants_close)
            if fault.close:
                await writer.drain()
                writer.close()
            return keep
        try:
            request = wire.parse(body)
        except WireError as exc:
            _write_json(writer, exc.status, wire.error(exc.status, exc.message, exc.error_type, None))
            return not wants_close
        reply = self._resolve(planned if isinstance(planned, Reply) else default_reply, request, count)
        if request.stream:
            return await self._stream(wire, request, reply, fault, writer, keep)
        payload = _MALFORMED if fault.malformed else _dumps(wire.completion(request, reply))
        if fault.drop is not None:
            cut = fault.after if fault.after is not None else len(payload) // 2
            writer.write(_head(200, "application/json", [("content-length", str(len(payload)))]) + payload[:cut])
            await _drop(writer, fault.drop)
            return False
        extra = [("content-length", str(len(payload))), *fault.headers.items()]
        writer.write(_head(200, "application/json", extra, close=wants_close) + payload)
        if fault.close:
            await writer.drain()
            writer.close()
        return keep

    def _resolve(self, reply: Reply | None, request: WireRequest, count: int) -> Reply:
        continues = request.prefix is not None
        if reply is None:
            start = zlib.crc32(request.prompt.encode())
            limit = self.words if request.max_tokens is None or continues else min(self.words, request.max_tokens)
            words = [_VOCABULARY[(start + i) % len(_VOCABULARY)] for i in range(max(limit, 1))]
            finish = "length" if not continues and limit < self.words else "stop"
            reply = _tool_reply(request, start) or Reply(text=" ".join(words), finish_reason=finish)
        if request.prefix is not None:
            reply = _continuation(reply, request.prefix, request.max_tokens)
        prefix_tokens = len((request.prefix or "").split())
        usage = reply.usage or Usage(
            prompt_tokens=len(request.prompt.split()) + prefix_tokens + 3 * request.message_count,
            completion_tokens=len(reply.pieces()) + 8 * len(reply.tool_calls or ()),
        )
        return replace(reply, usage=usage, id=f"fault-{count}")

    async def _error(self, wire: Wire, fault: Fault, writer: asyncio.StreamWriter, wants_close: bool) -> None:
        status = fault.status
        if isinstance(fault.body, bytes | str):
            payload = fault.body.encode() if isinstance(fault.body, str) else fault.body
            kind = "application/json" if payload[:1] in (b"{", b"[") else "text/plain"
        else:
            phrase = _phrase(status)
            error_type = fault.error_type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else None)
            body = (
                fault.body
                if fault.body is not None
                else wire.error(status, fault.message or phrase, error_type, fault.code)
            )
            payload, kind = _dumps(body), "application/json"
        extra = [("content-length", str(len(payload))), *fault.headers.items()]
        writer.write(_head(status, kind, extra, close=wants_close) + payload)

    async def _stream(
        self, wire: Wire, request: WireRequest, reply: Reply, fault: Fault, writer: asyncio.StreamWriter, keep: bool
    ) -> bool:
        frames = wire.stream(request, reply)
        after = fault.after if fault.after is not None else len(frames)
        ends_early = fault.drop in ("reset", "close")
        if fault.stream_error is not None:
            frames = [*frames[:after], wire.stream_error(fault.stream_error, fault.error_type, fault.code)]
        elif fault.malformed:
            frames = [*frames[:after], _MALFORMED_FRAME, *frames[after + 1 :]]
        elif fault.drop is not None:
            frames = frames[:after]
        if fault.done and fault.stream_error is None and not ends_early:
            frames = frames + wire.done()
        chunked = fault.framing == "chunked"
        framing = [("transfer-encoding", "chunked")] if chunked else []
        writer.write(_head(200, "text/event-stream", [("cache-control", "no-cache"), *framing], close=not chunked))
        encode = _chunk if chunked else bytes
        if fault.chunk_delay:
            # A drip with ``after`` (and no other fault) sends that many frames at once first.
            plain = fault.stream_error is None and not fault.malformed and fault.drop is None
            start = fault.after if plain and fault.after is not None else 0
            if start:
                writer.write(b"".join(encode(f) for f in frames[:start]))
                await writer.drain()
            for frame in frames[start:]:
                await self._sleep(fault.chunk_delay)
                writer.write(encode(frame))
                await writer.drain()
        else:
            writer.write(b"".join(encode(f) for f in frames))
        if ends_early:
            await _drop(writer, "reset" if fault.drop == "reset" else "close")
            return False
        if chunked:
            writer.write(b"0\r\n\r\n")
        if not chunked or not keep:
            await writer.drain()
            writer.close()
            return False
        return True


def _continuation(reply: Reply, prefix: str, max_tokens: int | None) -> Reply:
    """The rest of ``reply`` after ``prefix`` (what a greedy model continuing it would
    write), at most ``max_tokens`` words more. A prefix the answer does not begin with
    gets the whole answer: a model that ignored it."""
    if not reply.text.startswith(prefix):
        return reply
    pieces = replace(reply, text=reply.text[len(prefix) :]).pieces()
    if max_tokens is not None and len(pieces) > max_tokens:
        return replace(reply, text="".join(pieces[:max_tokens]).rstrip(), finish_reason="length")
    return replace(reply, text="".join(pieces))


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    length = headers.get("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if headers.get("transfer-encoding", "").lower() != "chunked":
        return b""
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _azure(route: str, query: str, headers: Mapping[str, str], body: Any) -> tuple[str, Any, tuple[int, str] | None]:
    """An Azure OpenAI path as the OpenAI route it reaches, the body (its model is the
    deployment when it names none), and the refusal Azure would answer, if any:
    ``/openai/deployments/<deployment>/<op>?api-version=...`` (the version is required)
    or ``/openai/v1/<op>``; an ``api-key`` header or an Entra ``Authorization: Bearer``."""
    parts = route.split("/")
    if route.startswith("/openai/deployments/") and len(parts) > 4:
        deployment, route = parts[3], "/v1/" + "/".join(parts[4:])
        if "api-version=" not in query:
            return route, body, (404, "Resource not found")
        if isinstance(body, dict) and "model" not in body:
            body = {**body, "model": deployment}
    elif route.startswith("/openai/v1/"):
        route = route.removeprefix("/openai")
    else:
        return route, body, (404, "Resource not found")
    if not headers.get("api-key") and not headers.get("authorization", "").startswith("Bearer "):
        return route, body, (401, "Access denied due to invalid subscription key or wrong API endpoint.")
    return route, body, None


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else f"HTTP {status}"


def _head(status: int, content_type: str, extra: Iterable[tuple[str, str]], *, close: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status} {_phrase(status)}", f"content-type: {content_type}"]
    lines.extend(f"{k}: {v}" for k, v in extra)
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _chunk(frame: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(frame), frame)


def _write_json(writer: asyncio.StreamWriter, status: int, body: Any) -> None:
    payload = _dumps(body)
    writer.write(_head(status, "application/json", [("content-length", str(len(payload)))]) + payload)


def _fallback_wire(routes: Mapping[str, Wire]) -> Wire:
    from ._wire_openai import WIRE

    return routes.get(WIRE.path, WIRE)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN. The peer may lose unread bytes."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _drop(writer: asyncio.StreamWriter, how: str) -> None:
    if how == "end":
        await writer.drain()
        writer.close()
        return
    await writer.drain()
    if how == "reset":
        _reset(writer)
    else:
        writer.close()


def unused_port(host: str = "127.0.0.1") -> int:
    """A port with nothing listening on it (connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def refused_url(host: str = "127.0.0.1") -> str:
    """An OpenAI-style base URL where every connection is refused."""
    return f"http://{host}:{unused_port(host)}/v1"
