"""The last resort: a user's function that answers when the backends failed.

``AsyncClient(fallback=fn)``: when every deployment failed (a provider error, open
breakers, the deadline, all deployments) and no stale cache entry answered, ``fn(request,
error)`` gives the answer (a :class:`ChatResponse` or its text; it may be async). A
refusal — bad input, a guard, a budget, access, a local rate limit — is the caller's to
see and is never answered here. It acts on opening a call: a stream that broke after its
first chunk is not answered again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._core.call import Call, Layer, Opened
from .._core.errors import backends_failed
from .._core.models import ChatRequest, ChatResponse, Usage, new_id

FallbackFunction = Callable[[ChatRequest, BaseException], "ChatResponse | str | Awaitable[ChatResponse | str]"]


class LastResortLayer(Layer):
    def __init__(self, inner: Layer, answer: FallbackFunction) -> None:
        super().__init__(inner)
        self.answer = answer

    async def open(self, call: Call) -> Opened:
        try:
            return await self.inner.open(call)
        except Exception as exc:
            if not backends_failed(exc) or call.operation == "embed":  # it answers text, not vectors
                raise
            answer = self.answer(call.request, exc)
            if isinstance(answer, Awaitable):
                answer = await answer
        if isinstance(answer, str):
            answer = ChatResponse(
                id=new_id("fallback"),
                text=answer,
                finish_reason="stop",
                usage=Usage(),
                model="fallback",
                deployment="fallback",
            )
        return Opened.replay(answer) if call.stream else Opened(answer)
