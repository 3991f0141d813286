"""What every layer that wraps a stream needs: closing the stream below it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._core.models import ChatChunk


async def aclose_stream(stream: AsyncIterator[ChatChunk]) -> None:
    """Close ``stream`` (an async generator has ``aclose``; a plain iterator needs nothing)."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
