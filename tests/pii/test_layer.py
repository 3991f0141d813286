"""The PII layer: the backend never sees raw PII; the caller gets the originals back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import llmprod
from llmprod import PII, ChatChunk, ChatResponse, Message, Usage
from llmprod._core.models import StreamAssembler
from llmprod.backends import ChatRequest
from llmprod.events import PIIRedacted
from llmprod.layers import as_layer
from llmprod.layers.pii import PIILayer
from llmprod.testing import FakeBackend

PROMPT = "I am jo@example.com, card 4111 1111 1111 1111, call +44 20 7946 0958. Mail jo@example.com."
RAW = ["jo@example.com", "4111 1111 1111 1111", "+44 20 7946 0958"]


class ChunkedBackend:
    """Streams a fixed answer in the given chunks (FakeBackend splits by words only)."""

    name = "chunked"

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        assembler = StreamAssembler(model="m", deployment=self.name)
        for piece in self.chunks:
            assembler.add_text(piece)
            yield ChatChunk(text=piece)
        assembler.finish_reason = "stop"
        yield assembler.final_chunk()

    async def aclose(self) -> None:
        pass


def _request(text: str = PROMPT, **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), **kwargs)


def _seen(backend: Any) -> str:
    return repr([r.messages for r in backend.requests]) + repr([r.user for r in backend.requests])


def _assert_no_raw(text: str) -> None:
    leaked = [v for v in RAW if v in text]
    assert not leaked, leaked


async def test_backend_gets_redacted_prompt_and_caller_gets_originals() -> None:
    backend = FakeBackend(lambda r: "Sure <EMAIL_1>, I will call <PHONE_1>. Spam: new@example.org")
    events: list[Any] = []
    layer = PIILayer(as_layer(backend), PII(mode="pseudonymize"), events.append)
    request = _request(user="jo@example.com")
    response = await layer.complete(request)
    _assert_no_raw(_seen(backend))
    assert backend.requests[0].messages[0].content == (
        "I am <EMAIL_1>, card <CREDIT_CARD_1>, call <PHONE_1>. Mail <EMAIL_1>."
    )
    # the caller's own values come back; PII the model made up stays redacted
    assert response.text == "Sure jo@example.com, I will call +44 20 7946 0958. Spam: <EMAIL_2>"
    assert response.pii_redacted == {"EMAIL": 4, "CREDIT_CARD": 1, "PHONE": 1}
    assert [(e.direction, dict(e.counts)) for e in events if isinstance(e, PIIRedacted)] == [
        ("input", {"EMAIL": 3, "CREDIT_CARD": 1, "PHONE": 1}),
        ("output", {"EMAIL": 1}),
    ]
    _assert_no_raw(repr(events))


async def test_mask_mode_redacts_both_ways() -> None:
    backend = FakeBackend(lambda r: "Your SSN 123-45-6789 is on file")
    layer = PIILayer(as_layer(backend), PII(), lambda e: None)
    response = await layer.complete(_request())
    assert backend.requests[0].messages[0].content == "I am [EMAIL], card [CREDIT_CARD], call [PHONE]. Mail [EMAIL]."
    assert response.text == "Your SSN [SSN] is on file"


async def test_content_parts_and_tool_calls_are_redacted_and_restored() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "send", "arguments": '{"to": "<EMAIL_1>"}'}}
    answer = ChatResponse(id="1", text="", finish_reason="tool_calls", usage=Usage(), model="m", tool_calls=(call,))
    backend = FakeBackend(lambda r: answer)
    history = Message(
        "assistant",
        None,
        tool_calls=({"id": "c0", "function": {"name": "f", "arguments": '{"to": "jo@example.com"}'}},),
    )
    parts = Message("user", ({"type": "text", "text": "mail jo@example.com"}, {"type": "image_url", "image_url": {}}))
    request = ChatRequest(messages=(history, parts))
    response = await PIILayer(as_layer(backend), PII(mode="pseudonymize"), lambda e: None).complete(request)
    _assert_no_raw(_seen(backend))
    assert backend.requests[0].messages[1].content[0]["text"] == "mail <EMAIL_1>"  # type: ignore[index]
    assert response.tool_calls is not None
    assert response.tool_calls[0]["function"]["arguments"] == '{"to": "jo@example.com"}'


@pytest.mark.parametrize("mode", ["mask", "pseudonymize"])
async def test_stream_split_values_redacted_and_restored(mode: str) -> None:
    chunks = ["Hi <EMA", "IL_1>, new: ann@exa", "mple.org, tel +33 1 23 4", "5 67 89 ok"]
    backend = ChunkedBackend(chunks)
    events: list[Any] = []
    layer = PIILayer(as_layer(backend), PII(mode=mode), events.append)  # type: ignore[arg-type]
    request = _request()
    got = [chunk async for chunk in layer.stream(request)]
    text = "".join(c.text for c in got)
    _assert_no_raw(_seen(backend))
    if mode == "pseudonymize":
        # <EMAIL_1> is the caller's own (restored); the new address and the phone are redacted
        assert text == "Hi jo@example.com, new: <EMAIL_2>, tel <PHONE_2> ok"
    else:
        assert text == "Hi <EMAIL_1>, new: [EMAIL], tel [PHONE] ok"
    final = got[-1].response
    assert final is not None and final.text == text
    assert "ann@" not in text and "+33" not in text
    assert final.pii_redacted["EMAIL"] == 3
    assert [e.direction for e in events if isinstance(e, PIIRedacted)] == ["input", "output"]


async def test_client_end_to_end_with_cache_below() -> None:
    seen: list[str] = []

    def answer(request: ChatRequest) -> str:
        seen.append(request.prompt_text())
        return "Noted, <EMAIL_1>."

    backend = FakeBackend(answer)
    events: list[Any] = []
    async with llmprod.AsyncClient(
        backend, pii=PII(mode="pseudonymize"), cache=llmprod.Cache(ttl=60), hooks=[events.append]
    ) as client:
        first = await client.chat("remember jo@example.com", temperature=0)
        second = await client.chat("remember jo@example.com", temperature=0)
        streamed = "".join([c.text async for c in client.stream("remember jo@example.com", temperature=0)])
    assert seen == ["remember <EMAIL_1>"]  # the cache, below the PII layer, keyed on redacted text
    assert first.text == second.text == streamed == "Noted, jo@example.com."
    assert first.pii_redacted == {"EMAIL": 1} and second.cached
    _assert_no_raw(repr([e for e in events if not hasattr(e, "response")]))


def test_bad_config_fails_when_built() -> None:
    with pytest.raises(llmprod.ConfigError):
        PIILayer(as_layer(FakeBackend(lambda r: "x")), PII(entities=["NOPE"]), lambda e: None)
