"""A backend built from a function, for unit tests of layers: :class:`FakeBackend`."""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from .._core.models import ChatChunk, ChatRequest, ChatResponse, StreamAssembler, Usage, new_id

Answer = ChatResponse | Exception | str
Handler = Callable[[ChatRequest], "Answer | Awaitable[Answer]"]

_PIECE = re.compile(r"\s*\S+\s*|\s+")


class FakeBackend:
    """A :class:`~llmprod.backends.Backend` that answers with ``handler(request)``.

    The handler (sync or async) returns a :class:`~llmprod.ChatResponse`, a string
    (the answer's text), or an exception, which is raised. ``stream`` splits the
    answer into one chunk per word. ``requests`` records every request received.

    Example::

        backend = FakeBackend(lambda request: "hello")
        flaky = FakeBackend(lambda r: ServerError("boom", status=503) if len(flaky.requests) < 2 else "ok")
    """

    def __init__(self, handler: Handler, *, name: str = "fake", model: str = "fake-model") -> None:
        self.handler = handler
        self.name = name
        self.model = model
        self.requests: list[ChatRequest] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"FakeBackend(name={self.name!r})"

    async def _answer(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, str):
            usage = Usage(prompt_tokens=len(request.prompt_text().split()), completion_tokens=len(answer.split()))
            return ChatResponse(
                id=new_id("fake"),
                text=answer,
                finish_reason="stop",
                usage=usage,
                model=request.model or self.model,
                deployment=self.name,
            )
        return answer

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self._answer(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = await self._answer(request)
        assembler = StreamAssembler(model=response.model, deployment=response.deployment, id=response.id)
        for piece in _PIECE.findall(response.text):
            assembler.add_text(piece)
            yield ChatChunk(text=piece)
        for index, call in enumerate(response.tool_calls or ()):
            delta = {"index": index, **call}
            assembler.add_tool_call_delta(delta)
            yield ChatChunk(tool_calls=(delta,))
        assembler.finish_reason = response.finish_reason
        assembler.usage = response.usage
        yield assembler.final_chunk()

    async def aclose(self) -> None:
        self.closed = True
