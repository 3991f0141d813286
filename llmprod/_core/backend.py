"""The two extension points: :class:`Backend` and :class:`Hook`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .events import Event
    from .models import ChatChunk, ChatRequest, ChatResponse


@runtime_checkable
class Backend(Protocol):
    """Anything that answers a chat request: a provider, or a layer around one.

    ``name`` identifies the deployment (or layer) in errors, attempt logs and metrics.

    Example, a backend that always answers "ok"::

        class Echo:
            name = "echo"
            async def complete(self, request):
                return ChatResponse(id="1", text="ok", finish_reason="stop",
                                    usage=Usage(), model="echo")
            async def stream(self, request):
                yield ChatChunk(text="ok")
            async def aclose(self):
                pass
    """

    name: str

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer the request in one piece."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Answer as a stream of chunks; the last one carries the assembled response."""
        ...

    async def aclose(self) -> None:
        """Release connections, engines and threads."""
        ...


class Hook(Protocol):
    """Receives every event a client's layers emit. Must not block or raise.

    A hook that raises is logged and skipped; the call goes on.
    """

    def __call__(self, event: Event) -> None: ...


Emit = Callable[["Event"], None]
