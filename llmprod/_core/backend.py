"""The provider's shape: :class:`Backend`.

A provider answers natively in one piece or as a stream, so that is what a backend
implements; the attempt layer at the stack's inner edge turns it into the call shape
every layer speaks (:mod:`llmprod._core.call`).

A call's operation picks the method: ``chat`` calls ``complete`` or ``stream``; the
others are optional methods a backend has when its provider does:

- ``async embed(request: EmbedRequest) -> EmbedResponse``: embeddings (``client.embed``);
- ``async respond(request)`` and ``respond_stream(request)``: OpenAI's Responses API
  (reached through ``llmprod.wrap``), shaped like ``complete`` and ``stream``.

A backend without the method answers :class:`~llmprod._core.errors.UnsupportedOperationError`
(nothing sent; a fallback chain moves on to its next deployment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
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
