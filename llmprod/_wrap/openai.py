"""OpenAI's chat-completion shapes from llmprod's own: the SDK's keyword arguments as
``chat`` arguments, and a :class:`ChatResponse` as a ``chat.completion`` body (used by
the Ray Serve app, and by ``llmprod.wrap`` for an answer that did not come from the
SDK's endpoint). ``wrap`` itself lives in :mod:`llmprod._wrap.wrap`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .._core.models import SAMPLING_FIELDS, ChatResponse

# SDK arguments that map to llmprod's own; any other is forwarded in extra_body.
_DIRECT = frozenset({"messages", "model", *SAMPLING_FIELDS})
_FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}


def _given(value: Any) -> bool:
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def _arguments(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """SDK keyword arguments -> (llmprod chat arguments, stream?, include usage chunk?)."""
    args: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    stream = bool(kwargs.get("stream") is True)
    options = kwargs.get("stream_options")
    include_usage = bool(_given(options) and isinstance(options, Mapping) and options.get("include_usage"))
    for key, value in kwargs.items():
        if not _given(value) or key in ("stream", "stream_options"):
            continue
        if key == "max_completion_tokens":
            args.setdefault("max_tokens", value)
        elif key == "timeout":
            args["timeout"] = float(value) if isinstance(value, int | float) else None
        elif key == "extra_body":
            extra.update(value)
        elif key in ("extra_headers", "extra_query"):
            continue  # headers are fixed per backend; a per-call header would bypass the stack's view
        elif key in _DIRECT:
            args[key] = list(value) if key == "messages" else value
        else:
            extra[key] = value
    if extra:
        args["extra_body"] = extra
    if args.get("timeout") is None:
        args.pop("timeout", None)
    return args, stream, include_usage


def _completion_dict(r: ChatResponse) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": r.text if r.text or not r.tool_calls else None}
    if r.tool_calls:
        message["tool_calls"] = [dict(c) for c in r.tool_calls]
    return {
        "id": r.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": r.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(r.finish_reason), "logprobs": None}],
        "usage": _usage_dict(r),
    }


def _finish(reason: str | None) -> str:
    return reason if reason in _FINISH else "stop"


def _usage_dict(r: ChatResponse) -> dict[str, Any]:
    u = r.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }
