"""Resuming a broken stream (``resume=True``), in the fault server's wire formats.

The fault server answers deterministically (a greedy model), and answers a
continuation request — vLLM's ``continue_final_message``, Anthropic's assistant
prefill — with the rest of the answer that begins with the text it is given. So a
stream cut after any number of chunks, resumed, must join to exactly the uncut answer;
the caller sees one stream, and the final response carries the whole text, both
parts' usage and every attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import llmprod
from llmprod import StreamInterruptedError, Timeout
from llmprod.backends import ChatChunk, ChatRequest, ChatResponse
from llmprod.errors import ProviderConnectionError
from llmprod.events import CallStarted, Event, StreamResumed
from llmprod.layers import as_layer
from llmprod.layers.resume import MAX_RESUMES, ResumeLayer
from llmprod.testing import FakeBackend, Fault, FaultServer
from tests.fixtures_secrets import ANTHROPIC_TEST_KEY

from .calls import streamed

PROMPT = "tell me a story"
QUICK = Timeout(total=30, attempt=5, stream_idle=0.3)
RETRY = llmprod.Retry(attempts=3, initial=0.01, maximum=0.02)


def vllm(server: FaultServer) -> llmprod.OpenAICompatible:
    return llmprod.OpenAICompatible.preset("vllm", base_url=server.url, model="m")


def anthropic(server: FaultServer) -> llmprod.Anthropic:
    return llmprod.Anthropic(model="claude-test", api_key=ANTHROPIC_TEST_KEY, base_url=server.base_url)


WIRES: dict[str, tuple[Callable[[FaultServer], Any], range]] = {
    # cut points: after the first text frame, up to the last frame before the finish
    "openai": (vllm, range(2, 10)),  # role, 8 words, finish, usage
    "anthropic": (anthropic, range(4, 13)),  # start, ping, block start, 8 deltas, block stop, delta
}


def client(backend: Any, **options: Any) -> llmprod.AsyncClient:
    settings: dict[str, Any] = {"resume": True, "retry": RETRY, "timeout": QUICK, "breaker": None, **options}
    return llmprod.AsyncClient(backend, **settings)


async def stream(c: llmprod.AsyncClient, prompt: str = PROMPT, **kwargs: Any) -> tuple[list[str], ChatResponse]:
    texts: list[str] = []
    final = None
    async for chunk in c.stream(prompt, **kwargs):
        texts.append(chunk.text)
        final = chunk.response
    assert final is not None
    return texts, final


def cases() -> list[tuple[str, int]]:
    return [(wire, after) for wire, (_, cuts) in WIRES.items() for after in cuts]


@pytest.mark.parametrize(("wire", "after"), cases(), ids=[f"{w}-cut-after-{a}" for w, a in cases()])
async def test_a_stream_cut_after_n_frames_joins_to_the_uncut_answer(
    fault_server: FaultServer, wire: str, after: int
) -> None:
    make, _ = WIRES[wire]
    async with client(make(fault_server)) as c:
        _, uncut = await stream(c)
        fault_server.push(Fault.cut(after=after))
        texts, final = await stream(c)
    assert "".join(texts) == final.text == uncut.text
    assert final.finish_reason == uncut.finish_reason == "stop"
    assert [(a.outcome, a.error) for a in final.attempt_log] == [("error", "ProviderConnectionError"), ("ok", None)]
    assert final.usage.completion_tokens >= uncut.usage.completion_tokens and final.usage.estimated
    assert len(fault_server.requests) == 3


@pytest.mark.parametrize("wire", list(WIRES))
async def test_the_continuation_request_is_what_the_provider_expects(fault_server: FaultServer, wire: str) -> None:
    make, _ = WIRES[wire]
    async with client(make(fault_server)) as c:
        _, uncut = await stream(c, max_tokens=50)
        fault_server.push(Fault.cut(after=6))
        _, final = await stream(c, max_tokens=50)
    assert final.text == uncut.text
    first, again = fault_server.requests[1].body, fault_server.requests[2].body
    sent = again["messages"][-1]
    assert again["messages"][:-1] == first["messages"] and sent["role"] == "assistant"
    text = sent["content"] if isinstance(sent["content"], str) else sent["content"][0]["text"]
    assert uncut.text.startswith(text) and text == text.rstrip() and text
    assert again["max_tokens"] < first["max_tokens"] == 50  # what was already generated is taken off
    if wire == "openai":
        assert again["continue_final_message"] is True and again["add_generation_prompt"] is False
        assert "continue_final_message" not in first


FAULTS = {
    "reset": Fault.reset(after=4),
    "closed": Fault.cut(after=4),
    "error event": Fault.in_stream(after=4),
    "malformed frame": Fault.garbage(after=4),
    "stall past the idle timeout": Fault.stall(after=4, seconds=5),
}


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
async def test_every_break_after_the_first_chunk_is_resumed(fault_server: FaultServer, fault: Fault) -> None:
    async with client(vllm(fault_server)) as c:
        _, uncut = await stream(c)
        fault_server.push(fault)
        texts, final = await stream(c)
    assert "".join(texts) == final.text == uncut.text
    assert [a.outcome for a in final.attempt_log][-1] == "ok" and len(final.attempt_log) == 2


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
async def test_without_resume_the_same_breaks_interrupt_the_stream(fault_server: FaultServer, fault: Fault) -> None:
    async with client(vllm(fault_server), resume=False) as c:
        fault_server.push(fault)
        with pytest.raises(StreamInterruptedError) as raised:
            await stream(c)
    assert raised.value.partial_text and len(fault_server.requests) == 1


async def test_a_deployment_that_cannot_continue_is_interrupted_as_before(fault_server: FaultServer) -> None:
    plain = llmprod.OpenAICompatible(base_url=fault_server.url, model="m")  # OpenAI's API cannot continue
    async with client(plain) as c:
        assert "cannot on" in c.describe()
        fault_server.push(Fault.cut(after=4))
        with pytest.raises(StreamInterruptedError) as raised:
            await stream(c)
    assert raised.value.partial_text and len(fault_server.requests) == 1


async def test_breaks_in_the_continuation_are_resumed_too_and_retried_before_its_first_chunk(
    fault_server: FaultServer,
) -> None:
    async with client(vllm(fault_server)) as c:
        _, uncut = await stream(c)
        fault_server.push(Fault.cut(after=3), Fault.error(503), Fault.cut(after=3), Fault.reset(after=2))
        texts, final = await stream(c)
    assert "".join(texts) == final.text == uncut.text
    assert [(a.outcome, a.error) for a in final.attempt_log] == [
        ("error", "ProviderConnectionError"),  # cut after two words
        ("error", "ServerError"),  # the continuation refused: retried
        ("error", "ProviderConnectionError"),  # cut again
        ("error", "ProviderConnectionError"),  # and again, after one more word
        ("ok", None),
    ]


async def test_each_resume_is_an_event_and_counted_in_the_stats(fault_server: FaultServer) -> None:
    seen: list[Event] = []
    async with client(vllm(fault_server), hooks=[seen.append]) as c:
        uncut, _ = await stream(c)
        fault_server.push(Fault.cut(after=3), Fault.reset(after=3))  # role and two words; two more words
        texts, final = await stream(c)
        counts = c.stats().counts
    assert "".join(texts) == final.text == "".join(uncut)
    words = [t for t in uncut if t]
    [call] = [e.call_id for e in seen if isinstance(e, CallStarted) and e.stream][1:]
    resumes = [e for e in seen if isinstance(e, StreamResumed)]
    assert resumes == [
        StreamResumed(call, final.deployment, len("".join(words[:2])), 1, "ProviderConnectionError"),
        StreamResumed(call, final.deployment, len("".join(words[:4])), 2, "ProviderConnectionError"),
    ]
    assert counts["resumes"] == 2


async def test_a_continuation_the_retries_could_not_open_is_tried_again(fault_server: FaultServer) -> None:
    async with client(vllm(fault_server)) as c:
        _, uncut = await stream(c)
        fault_server.push(Fault.cut(after=3), *[Fault.error(503)] * RETRY.attempts, Fault.error(429, retry_after=0.01))
        texts, final = await stream(c)
    assert "".join(texts) == final.text == uncut.text
    outcomes = [a.error for a in final.attempt_log]
    assert outcomes == ["ProviderConnectionError", *["ServerError"] * RETRY.attempts, "RateLimitedError", None]


async def test_a_continuation_that_fails_ends_the_stream_as_interrupted(fault_server: FaultServer) -> None:
    async with client(vllm(fault_server)) as c:
        fault_server.push(Fault.cut(after=4), Fault.error(400, "no"))
        received: list[str] = []
        with pytest.raises(StreamInterruptedError) as raised:
            async for chunk in c.stream(PROMPT):
                received.append(chunk.text)
    assert raised.value.partial_text == "".join(received) and len(received) == 3
    assert len(fault_server.requests) == 2


async def test_both_parts_are_billed(fault_server: FaultServer) -> None:
    from llmprod.cost import prices

    prices.register("resume-billing-model", input=1000.0, output=1000.0)  # $0.001 a token
    backend = llmprod.OpenAICompatible.preset("vllm", base_url=fault_server.url, model="resume-billing-model")
    async with client(backend, budget=llmprod.Budget(hard=10.0)) as c:
        _, uncut = await stream(c, max_tokens=50)
        fault_server.push(Fault.cut(after=5))  # role and four words, then the continuation's four
        _, final = await stream(c, max_tokens=50)
        report = c.costs()
    assert final.text == uncut.text and uncut.cost is not None and final.cost is not None
    # the continuation's 4 words (the server's count) plus the broken part's 4 (counted here)
    assert final.usage.completion_tokens >= 4 + 4 and final.usage.estimated
    assert final.cost == pytest.approx(final.usage.total_tokens * 0.001)
    assert final.cost > uncut.cost  # the broken part was paid for too: its prompt, its words
    assert report.total.cost == pytest.approx(uncut.cost + final.cost)


async def test_the_cache_stores_only_the_joined_answer(fault_server: FaultServer) -> None:
    async with client(vllm(fault_server), cache=llmprod.Cache()) as c:
        fault_server.push(Fault.cut(after=4))
        texts, resumed = await stream(c)
        hit = await c.chat(PROMPT)
    assert hit.cached and hit.text == resumed.text == "".join(texts)
    assert len(fault_server.requests) == 2  # the cut stream and its continuation; the chat was a hit


async def test_a_failed_resume_stores_nothing(fault_server: FaultServer) -> None:
    async with client(vllm(fault_server), cache=llmprod.Cache()) as c:
        fault_server.push(Fault.cut(after=4), Fault.error(400))
        with pytest.raises(StreamInterruptedError):
            await stream(c)
        again = await c.chat(PROMPT)
    assert not again.cached


async def test_the_output_guard_sees_the_joined_text(fault_server: FaultServer) -> None:
    async with client(vllm(fault_server)) as c:
        _, uncut = await stream(c)
    words = uncut.text.split()
    term = f"{words[2]} {words[3]}"  # spans the break below: half in each part
    async with client(vllm(fault_server), guards=llmprod.Guards(blocklist=[term])) as c:
        fault_server.push(Fault.cut(after=4))  # role, words 0-2
        with pytest.raises(llmprod.OutputRejectedError):
            await stream(c)


def test_the_sync_client_resumes_too(sync_fault_server: FaultServer) -> None:
    with llmprod.Client(vllm(sync_fault_server), resume=True, retry=RETRY, breaker=None) as c:
        uncut = c.chat(PROMPT)
        sync_fault_server.push(Fault.cut(after=3))
        chunks = list(c.stream(PROMPT))
    final = chunks[-1].response
    assert final is not None and "".join(ch.text for ch in chunks) == final.text == uncut.text


def test_resume_in_a_config_file() -> None:
    config = {"deployments": [{"provider": "anthropic", "model": "m", "api_key": "x"}], "resume": True}
    client = llmprod.AsyncClient.from_config(config)
    assert "resume" in client.describe() and "continues broken streams" in client.describe()
    with pytest.raises(llmprod.ConfigError, match="resume"):
        llmprod.AsyncClient.from_config({**config, "resume": "yes"})
    with pytest.raises(llmprod.ConfigError, match="resume"):
        llmprod.AsyncClient(resume=1)  # type: ignore[arg-type]


# -- the layer alone ---------------------------------------------------------------


class Breaking:
    """Streams ``words`` and breaks after ``cut`` of them, the first ``breaks`` times."""

    name = "breaking"
    continues = True

    def __init__(self, words: list[str], cut: int, breaks: int = 1, tools: bool = False) -> None:
        self.words, self.cut, self.breaks, self.tools = words, cut, breaks, tools
        self.requests: list[ChatRequest] = []

    def continuation(self, request: ChatRequest, text: str) -> ChatRequest:
        return request.__class__(messages=(*request.messages, llmprod.Message("assistant", text)))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> Any:
        self.requests.append(request)
        done = request.messages[-1].text() if request.messages[-1].role == "assistant" else ""
        rest = " ".join(self.words)[len(done) :]
        pieces = [p + " " for p in rest.split(" ") if p]
        if self.tools:
            yield ChatChunk(tool_calls=({"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}},))
        for i, piece in enumerate(pieces):
            if i == self.cut and len(self.requests) <= self.breaks:
                raise ProviderConnectionError("cut")
            yield ChatChunk(text=piece)
        response = ChatResponse(id="r", text="".join(pieces), finish_reason="stop", usage=llmprod.Usage(3, len(pieces)))
        yield ChatChunk(finish_reason="stop", usage=response.usage, response=response)

    async def aclose(self) -> None:
        return None


def resumed(backend: Breaking) -> ResumeLayer:
    return ResumeLayer(as_layer(backend), backend, deployment="d")  # type: ignore[arg-type]


async def test_resumes_are_bounded_per_call() -> None:
    backend = Breaking(["w"] * 40, cut=1, breaks=100)
    with pytest.raises(StreamInterruptedError):
        [c async for c in streamed(resumed(backend), ChatRequest(messages=(llmprod.Message("user", "x"),)))]
    assert len(backend.requests) == 1 + MAX_RESUMES


async def test_a_stream_with_tool_calls_is_not_resumed() -> None:
    backend = Breaking(["a", "b", "c"], cut=1, tools=True)
    with pytest.raises(StreamInterruptedError) as raised:
        [c async for c in streamed(resumed(backend), ChatRequest(messages=(llmprod.Message("user", "x"),)))]
    assert raised.value.partial_text == "a " and len(backend.requests) == 1


async def test_chats_pass_through_untouched() -> None:
    backend = FakeBackend(lambda r: "whole")
    layer = ResumeLayer(as_layer(backend), backend, deployment="d")  # type: ignore[arg-type]
    assert (await layer.complete(ChatRequest(messages=(llmprod.Message("user", "x"),)))).text == "whole"
