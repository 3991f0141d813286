"""The fault server itself, driven with raw httpx (no llmprod backend in the way)."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from llmprod import Usage
from llmprod.testing import Fault, FaultServer, Reply, refused_url

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
STREAM = {**BODY, "stream": True, "stream_options": {"include_usage": True}}


@pytest.fixture
async def http(fault_server: FaultServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fault_server.url, timeout=10) as client:
        yield client


def events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.split("\n") if line.startswith("data: ")]


async def test_answers_json_and_records_the_request(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    r = await http.post("/chat/completions", json=BODY, headers={"authorization": "Bearer k"})
    again = await http.post("/chat/completions", json=BODY)
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["finish_reason"] == "stop"
    text = data["choices"][0]["message"]["content"]
    assert len(text.split()) == 8
    assert again.json()["choices"][0]["message"]["content"] == text  # deterministic
    assert data["usage"]["completion_tokens"] == 8
    assert data["usage"]["prompt_tokens"] == 2 + 3
    [first, _] = fault_server.requests
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer k"
    assert first.body == BODY


async def test_max_tokens_shortens_the_answer(http: httpx.AsyncClient) -> None:
    data = (await http.post("/chat/completions", json={**BODY, "max_tokens": 3})).json()
    assert len(data["choices"][0]["message"]["content"].split()) == 3
    assert data["choices"][0]["finish_reason"] == "length"


async def test_stream_has_deltas_usage_and_done(http: httpx.AsyncClient) -> None:
    r = await http.post("/chat/completions", json=STREAM)
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    frames = events(r.text)
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert len(text.split()) == 8
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_stream_without_include_usage_has_no_usage_chunk(http: httpx.AsyncClient) -> None:
    r = await http.post("/chat/completions", json={**BODY, "stream": True})
    chunks = [json.loads(f) for f in events(r.text)[:-1]]
    assert all("usage" not in c for c in chunks)


async def test_one_connection_serves_many_requests(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    for _ in range(50):
        assert (await http.post("/chat/completions", json=BODY)).status_code == 200
        assert (await http.post("/chat/completions", json=STREAM)).status_code == 200
    assert fault_server.connections == fault_server.open_connections == 1
    assert len(fault_server.requests) == 100


async def test_push_script_always_and_reset(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.error(500), Fault.error(502))
    fault_server.push(Fault.error(503), times=2)
    codes = [(await http.post("/chat/completions", json=BODY)).status_code for _ in range(5)]
    assert codes == [500, 502, 503, 503, 200]
    fault_server.script([None, Fault.error(404), Reply(text="scripted")])
    fault_server.always(Fault.error(529))
    r = [await http.post("/chat/completions", json=BODY) for _ in range(4)]
    assert [x.status_code for x in r] == [200, 404, 200, 529]
    assert r[2].json()["choices"][0]["message"]["content"] == "scripted"
    fault_server.reset()
    assert fault_server.requests == []
    assert (await http.post("/chat/completions", json=BODY)).status_code == 200


async def test_reply_sets_the_default_answer(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.reply("fixed answer", usage=Usage(prompt_tokens=7, completion_tokens=2, cached_tokens=5))
    data = (await http.post("/chat/completions", json=BODY)).json()
    assert data["choices"][0]["message"]["content"] == "fixed answer"
    assert data["usage"]["prompt_tokens_details"] == {"cached_tokens": 5}
    call = {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"city": "Paris"}'}}
    fault_server.reply(tool_calls=[call], finish_reason="tool_calls")
    data = (await http.post("/chat/completions", json=BODY)).json()
    assert data["choices"][0]["message"] == {"role": "assistant", "content": None, "tool_calls": [call]}
    fault_server.reply()
    data = (await http.post("/chat/completions", json=BODY)).json()
    assert len(data["choices"][0]["message"]["content"].split()) == 8


async def test_error_bodies_and_retry_after_headers(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    fault_server.push(
        Fault.error(429, "slow down", retry_after=2),
        Fault.error(503, retry_after=when, retry_after_ms=1500),
        Fault.error(422, body={"detail": [{"loc": ["body"], "msg": "bad"}]}),
        Fault.error(500, body="Internal Server Error"),
    )
    r = [await http.post("/chat/completions", json=BODY) for _ in range(4)]
    assert r[0].json() == {"error": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None}}
    assert r[0].headers["retry-after"] == "2"
    assert r[1].headers["retry-after-ms"] == "1500"
    assert r[1].headers["retry-after"].endswith("GMT")
    assert r[1].json()["error"]["message"] == "Service Unavailable"
    assert r[2].json() == {"detail": [{"loc": ["body"], "msg": "bad"}]}
    assert (r[3].status_code, r[3].text, r[3].headers["content-type"]) == (500, "Internal Server Error", "text/plain")


async def test_delay_and_slow_drip() -> None:
    # The server's pauses go through its ``sleep``: recorded here, not measured.
    pauses: list[float] = []
    lines: list[str] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    async with FaultServer(sleep=sleep) as server, httpx.AsyncClient(base_url=server.url) as http:
        server.push(Fault.slow(0.2), Fault.slow(chunk_delay=0.03))
        await http.post("/chat/completions", json=BODY)
        assert pauses == [0.2]  # the whole answer waited once, before it started
        async with http.stream("POST", "/chat/completions", json=STREAM) as r:
            async for line in r.aiter_lines():
                lines.append(line)
    frames = [line for line in lines if line.startswith("data:")]
    assert pauses[1:] == [0.03] * len(frames)  # one pause before each frame: dripped, not sent at once
    assert frames[-1] == "data: [DONE]"


async def test_reset_before_any_byte(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.reset())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await http.post("/chat/completions", json=BODY)
    assert (await http.post("/chat/completions", json=BODY)).status_code == 200


async def test_reset_mid_body(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.reset(after=10), Fault(drop="reset", after=2))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await http.post("/chat/completions", json=BODY)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await http.post("/chat/completions", json=STREAM)


async def test_malformed_json(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.garbage(), Fault.garbage(after=2))
    r = await http.post("/chat/completions", json=BODY)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    frames = events((await http.post("/chat/completions", json=STREAM)).text)
    with pytest.raises(json.JSONDecodeError):
        json.loads(frames[2])
    assert frames[-1] == "[DONE]"


async def test_stream_cut_by_closing_the_connection(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.cut(after=3))
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("POST", "/chat/completions", json=STREAM) as r:
            async for line in r.aiter_lines():
                received.append(line)
    assert len(events("\n".join(received))) == 3


async def test_stream_cut_with_a_clean_end_with_and_without_done(
    http: httpx.AsyncClient, fault_server: FaultServer
) -> None:
    fault_server.push(Fault.cut(after=3, drop="end"), Fault.cut(after=3, drop="end", done=True))
    assert len(events((await http.post("/chat/completions", json=STREAM)).text)) == 3
    frames = events((await http.post("/chat/completions", json=STREAM)).text)
    assert len(frames) == 4 and frames[-1] == "[DONE]"
    assert fault_server.connections == 1  # a clean end keeps the connection


async def test_error_event_inside_a_200_stream(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.in_stream("model crashed", after=2))
    r = await http.post("/chat/completions", json=STREAM)
    frames = events(r.text)
    assert r.status_code == 200 and len(frames) == 3
    assert json.loads(frames[-1])["error"]["message"] == "model crashed"


async def test_stream_that_never_sends_done(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.no_done())
    frames = events((await http.post("/chat/completions", json=STREAM)).text)
    assert "[DONE]" not in frames
    assert json.loads(frames[-1])["usage"]["completion_tokens"] == 8


async def test_close_delimited_stream(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault(framing="close"))
    r = await http.post("/chat/completions", json=STREAM)
    assert "transfer-encoding" not in r.headers and r.headers["connection"] == "close"
    assert events(r.text)[-1] == "[DONE]"


async def test_closes_the_kept_alive_connection_after_a_5xx(fault_server: FaultServer, http: httpx.AsyncClient) -> None:
    fault_server.push(Fault.error(502, close=True))
    assert (await http.post("/chat/completions", json=BODY)).status_code == 502
    assert (await http.post("/chat/completions", json=BODY)).status_code == 200
    assert fault_server.connections == 2


async def test_hanging_request_times_out_and_the_server_still_closes(fault_server: FaultServer) -> None:
    fault_server.push(Fault.hanging())
    async with httpx.AsyncClient(base_url=fault_server.url, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/chat/completions", json=BODY)


async def test_connect_refused() -> None:
    async with httpx.AsyncClient(base_url=refused_url(), timeout=5) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post("/chat/completions", json=BODY)


async def test_unknown_path_and_invalid_body(http: httpx.AsyncClient) -> None:
    r = await http.post("/nowhere", json=BODY)
    assert r.status_code == 404 and "no route" in r.json()["error"]["message"]
    r = await http.post("/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    r = await http.post("/chat/completions", content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_sync_context_manager_runs_on_its_own_thread() -> None:
    with FaultServer() as server:
        server.push(Fault.error(503))
        with httpx.Client(base_url=server.url, timeout=5) as http:
            assert http.post("/chat/completions", json=BODY).status_code == 503
            assert http.post("/chat/completions", json=BODY).status_code == 200
        assert len(server.requests) == 2
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=2) as http:
        http.post(server.url + "/chat/completions", json=BODY)


def test_fault_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)
    with pytest.raises(ValueError, match="delay"):
        Fault.slow(-1)


def _continue(text: str, **extra: object) -> dict[str, object]:
    messages = [*BODY["messages"], {"role": "assistant", "content": text}]  # type: ignore[misc]
    return {**BODY, "messages": messages, **extra}


async def test_a_continuation_is_answered_with_the_rest_of_the_answer(http: httpx.AsyncClient) -> None:
    whole = (await http.post("/chat/completions", json=BODY)).json()["choices"][0]["message"]["content"]
    words = whole.split()
    vllm = {"continue_final_message": True, "add_generation_prompt": False}
    rest = (await http.post("/chat/completions", json=_continue(" ".join(words[:3]), **vllm))).json()
    assert rest["choices"][0]["message"]["content"] == " " + " ".join(words[3:])
    assert rest["usage"]["completion_tokens"] == 5 and rest["usage"]["prompt_tokens"] > 5
    short = (await http.post("/chat/completions", json=_continue(words[0], max_tokens=2, **vllm))).json()
    assert short["choices"][0]["message"]["content"] == " " + " ".join(words[1:3])
    assert short["choices"][0]["finish_reason"] == "length"
    # Without continue_final_message the assistant message is a finished turn: a new answer.
    fresh = (await http.post("/chat/completions", json=_continue(" ".join(words[:3])))).json()
    assert len(fresh["choices"][0]["message"]["content"].split()) == 8


async def test_a_continuation_is_refused_as_vllm_refuses_it(http: httpx.AsyncClient) -> None:
    both = await http.post("/chat/completions", json=_continue("alpha", continue_final_message=True))
    assert both.status_code == 400 and "add_generation_prompt" in both.json()["error"]["message"]
    no_assistant = await http.post(
        "/chat/completions", json={**BODY, "continue_final_message": True, "add_generation_prompt": False}
    )
    assert no_assistant.status_code == 400


async def test_an_anthropic_prefill_is_continued_and_trailing_whitespace_refused(fault_server: FaultServer) -> None:
    body = {"model": "c", "max_tokens": 50, "messages": BODY["messages"]}
    async with httpx.AsyncClient(base_url=fault_server.base_url) as http:
        whole = (await http.post("/v1/messages", json=body)).json()["content"][0]["text"]
        prefill = " ".join(whole.split()[:2])
        messages = [*body["messages"], {"role": "assistant", "content": prefill}]  # type: ignore[misc]
        rest = (await http.post("/v1/messages", json={**body, "messages": messages})).json()
        messages[-1] = {"role": "assistant", "content": prefill + " "}
        refused = await http.post("/v1/messages", json={**body, "messages": messages})
    assert prefill + rest["content"][0]["text"] == whole
    assert refused.status_code == 400 and "trailing whitespace" in refused.json()["error"]["message"]
