"""OpenAI's embeddings wire format (``POST /v1/embeddings``).

Each input gets a deterministic unit vector derived from its text (the same text, the
same vector), of ``dimensions`` numbers (8 by default), as floats or, with
``encoding_format="base64"`` (what the openai SDK asks for), as little-endian float32 in
base64. Usage counts one token a word. There is no stream.
"""

from __future__ import annotations

import array
import base64
import math
import sys
import zlib
from typing import Any

from ._wire import Reply, WireError, WireRequest, json_object, required_model, sse

DEFAULT_DIMENSIONS = 8


def vector(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The fault server's embedding of ``text``: deterministic, of length 1."""
    seed = zlib.crc32(text.encode())
    values = [math.sin(seed * (i + 1) * 0.001 + i) for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def _texts(raw: object) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return list(raw)
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [" ".join(map(str, raw))]  # one input as token ids
    if isinstance(raw, list) and raw and all(isinstance(x, list) for x in raw):
        return [" ".join(map(str, x)) for x in raw]
    raise WireError("'input' must be a string, a list of strings, or token arrays")


def _base64(values: list[float]) -> str:
    packed = array.array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()


class EmbeddingsWire:
    """Speaks ``/v1/embeddings`` as OpenAI does."""

    name = "openai-embeddings"
    path = "/v1/embeddings"

    def parse(self, body: Any) -> WireRequest:
        body = json_object(body)
        model = required_model(body)
        texts = _texts(body.get("input"))
        dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
        if not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
            raise WireError("'dimensions' must be an integer in [1, 4096]")
        if body.get("encoding_format", "float") not in ("float", "base64"):
            raise WireError("'encoding_format' must be 'float' or 'base64'")
        if body.get("stream"):
            raise WireError("embeddings cannot be streamed")
        return WireRequest(model=model, prompt="\n".join(texts), stream=False, message_count=0, body=body)

    def completion(self, request: WireRequest, reply: Reply) -> dict[str, Any]:
        body = request.body or {}
        dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(_texts(body.get("input"))):
            values = vector(text, dimensions)
            data.append({"object": "embedding", "index": index, "embedding": _base64(values) if as_base64 else values})
        tokens = reply.counted_usage.prompt_tokens
        return {
            "object": "list",
            "data": data,
            "model": request.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def stream(self, request: WireRequest, reply: Reply) -> list[bytes]:
        raise WireError("embeddings cannot be streamed")  # parse refused it already

    def done(self) -> list[bytes]:
        return []

    def error(self, status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def stream_error(self, message: str, error_type: str | None, code: str | None) -> bytes:
        return sse(self.error(200, message, error_type, code))


WIRE = EmbeddingsWire()
