"""OpenAI's embeddings (``POST .../embeddings``), for ``llmprod.wrap``.

The view's messages are the inputs (token-id inputs have no text: they are sent as
they are, unredacted and uncounted). The view answer keeps the usage and the model;
the vectors stay in the provider's body, in the encoding the SDK asked for.
"""

from __future__ import annotations

import array
import base64
import sys
from collections.abc import Mapping
from typing import Any

from .._core.call import Operation
from .._core.errors import InvalidRequestError
from .._core.models import ChatChunk, ChatResponse, EmbedResponse, Message, Usage
from .._core.raw import Event, RawRequest
from ..backends.openai import read_error, stream_error
from .codec import BaseCodec, Group, Slot, integer


class EmbeddingsCodec(BaseCodec):
    operation: Operation = "embed"

    def groups(self, body: Any) -> list[Group]:
        raw = body.get("input")
        if isinstance(raw, str):
            return [("user", [(body, "input")])]
        groups: list[Group] = []
        if isinstance(raw, list):
            for i, item in enumerate(raw):
                slots: list[Slot] = [(raw, i)] if isinstance(item, str) else []
                groups.append(("user", slots))
        return groups

    def view(self, body: Mapping[str, Any], messages: tuple[Message, ...]) -> dict[str, Any]:
        dimensions = integer(body, "dimensions")
        return {
            "model": body.get("model") if isinstance(body.get("model"), str) else None,
            "extra_body": {"dimensions": dimensions} if dimensions else {},
        }

    def parse(self, data: Mapping[str, Any], *, deployment: str, model: str) -> ChatResponse:
        if "error" in data:
            raise stream_error(data, deployment=deployment)
        usage = data.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
        return EmbedResponse(
            id=str(data.get("id") or ""),
            text="",
            finish_reason=None,
            usage=Usage(prompt_tokens=tokens if isinstance(tokens, int) else 0),
            model=str(data.get("model") or model),
            deployment=deployment,
        )

    def start(self, *, deployment: str, model: str) -> Any:
        raise InvalidRequestError("embeddings cannot be streamed", field="stream")

    def feed(self, state: Any, event: str | None, data: Mapping[str, Any]) -> ChatChunk:
        raise AssertionError("no stream")

    def ended(self, state: Any) -> bool:
        return True

    def final(self, state: Any) -> ChatResponse:
        raise AssertionError("no stream")

    def read_error(self, status: int, body: Any, text: str) -> tuple[str, str | None]:
        return read_error(status, body, text)

    def retext(self, data: dict[str, Any], text: str) -> None:
        return None

    def patch_answer(self, data: dict[str, Any], response: ChatResponse) -> None:
        return None  # no layer changes vectors

    def body_of(self, response: ChatResponse, raw: RawRequest) -> dict[str, Any]:
        vectors = response.vectors if isinstance(response, EmbedResponse) else ()
        as_base64 = raw.body.get("encoding_format") == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": _base64(v) if as_base64 else list(v)}
            for i, v in enumerate(vectors)
        ]
        tokens = response.usage.prompt_tokens
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": response.model, "usage": usage}

    def events_of(self, body: Mapping[str, Any], raw: RawRequest) -> list[Event]:
        return []

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


def _base64(values: tuple[float, ...]) -> str:
    packed = array.array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()


EMBEDDINGS = EmbeddingsCodec()
