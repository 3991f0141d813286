"""Turn ``embed``'s arguments into a validated :class:`EmbedRequest`.

Like :mod:`llmprod._core.request` for chat: every check happens before any layer
runs, and bad input raises :class:`InvalidRequestError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from .errors import InvalidRequestError
from .models import CacheControl, EmbedRequest, Message, RequestMetadata

MAX_INPUTS = 2048  # OpenAI's limit per request; larger batches are the caller's to split


class EmbedArgs(TypedDict, total=False):
    """What ``embed`` takes besides the input (all optional).

    ``model``, ``dimensions`` (shorter vectors, where the model supports it), ``user``,
    ``extra_body`` for provider-specific fields; about the call: ``timeout`` (its overall
    deadline, seconds), ``tenant``, ``api_key``, ``tags``, ``cache``, ``slo``, ``region``,
    ``tier``.
    """

    model: str
    dimensions: int
    user: str
    extra_body: Mapping[str, Any]
    timeout: float
    tenant: str
    api_key: str
    tags: Mapping[str, str]
    cache: CacheControl
    slo: str
    region: str
    tier: str


EMBED_ARGS = frozenset(EmbedArgs.__annotations__)


def build_embed_request(
    input: str | Sequence[str],
    *,
    model: str | None = None,
    dimensions: int | None = None,
    user: str | None = None,
    extra_body: Mapping[str, Any] | None = None,
    tenant: str | None = None,
    api_key: str | None = None,
    tags: Mapping[str, str] | None = None,
    cache: CacheControl | None = None,
    slo: str | None = None,
    region: str | None = None,
    tier: str | None = None,
    unknown: Mapping[str, Any] | None = None,
) -> EmbedRequest:
    """Validate the arguments of ``embed`` and build the request."""
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequestError("unknown argument; provider-specific fields go in extra_body={...}", field=name)
    inputs = [input] if isinstance(input, str) else input
    if isinstance(inputs, bytes) or not isinstance(inputs, Sequence):
        raise InvalidRequestError("must be a string or a list of strings", field="input")
    if not inputs:
        raise InvalidRequestError("is empty: pass at least one string", field="input")
    if len(inputs) > MAX_INPUTS:
        raise InvalidRequestError(f"has {len(inputs)} strings; at most {MAX_INPUTS} a call", field="input")
    for i, text in enumerate(inputs):
        if not isinstance(text, str) or not text:
            raise InvalidRequestError("must be a non-empty string", field=f"input[{i}]")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidRequestError(f"must be a non-empty string, got {model!r}", field="model")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1):
        raise InvalidRequestError(f"must be a positive integer, got {dimensions!r}", field="dimensions")
    if extra_body is not None and not isinstance(extra_body, Mapping):
        raise InvalidRequestError("must be a mapping", field="extra_body")
    if tags is not None and not (
        isinstance(tags, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise InvalidRequestError("must map strings to strings", field="tags")
    extra = dict(extra_body or {})
    if dimensions is not None:
        extra["dimensions"] = dimensions
    return EmbedRequest(
        messages=tuple(Message(role="user", content=text) for text in inputs),
        model=model,
        user=user,
        extra_body=extra,
        metadata=RequestMetadata(
            tenant=tenant,
            api_key=api_key,
            user=user,
            tags=dict(tags or {}),
            cache=cache or CacheControl(),
            slo=slo,
            region=region,
            tier=tier,
        ),
    )
