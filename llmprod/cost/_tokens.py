"""Token counting: exact with tiktoken's encodings, an approximation when none loads.

The only module that imports tiktoken, and only on the first count. The two encodings
the model table below names (``o200k_base``, ``cl100k_base``) ship inside the package
(:mod:`._encodings`), so counts are exact on a host with no network and no tiktoken
cache. For any other encoding, or when the shipped files were stripped out, we look in
tiktoken's cache (``TIKTOKEN_CACHE_DIR``, else ``DATA_GYM_CACHE_DIR``, else
``<tmp>/data-gym-cache``, as tiktoken does): tiktoken downloads a missing encoding with
no timeout, and a library on the request path must never wait for that. When nothing
loads we count approximately (about four characters a token), flag the count as
``estimated``, log one warning, and let a background thread fetch the file, so that with
network access later counts become exact and no call ever waits.
``LLMPROD_TIKTOKEN_DOWNLOAD=0`` turns the background fetch off (air-gapped hosts).

Message counts follow OpenAI's published recipe for chat models: 3 tokens per message,
the role and content, 1 more for a ``name``, and 3 that prime the reply.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._encodings import load_shipped

if TYPE_CHECKING:
    from tiktoken import Encoding

    from .._core.models import ChatRequest, Message

log = logging.getLogger("llmprod")

# Longest prefix wins. Families from tiktoken's own model table.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-5", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("text-embedding-", "cl100k_base"),
    ("ft:gpt-4o", "o200k_base"),
    ("ft:gpt-4", "cl100k_base"),
    ("ft:gpt-3.5", "cl100k_base"),
)
DEFAULT_ENCODING = "o200k_base"
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
_KNOWN = frozenset({"o200k_base", "cl100k_base", "p50k_base", "r50k_base"})
CHARS_PER_TOKEN = 4.0
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


class TokenCount(NamedTuple):
    """A token count; ``estimated`` is True when no tokenizer was available."""

    tokens: int
    estimated: bool


def encoding_name(model: str | None) -> str:
    """The tiktoken encoding for ``model``; :data:`DEFAULT_ENCODING` for others.

    For non-OpenAI models any BPE count is itself an estimate of their tokenizer's.
    """
    if model:
        name = model.lower().rsplit("/", 1)[-1]
        best = max((p for p in _PREFIXES if name.startswith(p[0])), key=lambda p: len(p[0]), default=None)
        if best is not None:
            return best[1]
    return DEFAULT_ENCODING


def is_openai_model(model: str | None) -> bool:
    """Whether ``model`` is one whose tokenizer tiktoken ships (so counts are exact)."""
    if not model:
        return False
    name = model.lower().rsplit("/", 1)[-1]
    return any(name.startswith(p) for p, _ in _PREFIXES)


def cache_dir() -> str | None:
    """tiktoken's cache directory, resolved as tiktoken does; None when caching is off."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return os.environ[var] or None
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def cached_file(name: str) -> str | None:
    """The path of encoding ``name`` in tiktoken's cache, or None when absent."""
    directory = cache_dir()
    if directory is None or name not in _KNOWN:
        return None
    path = os.path.join(directory, hashlib.sha1(_URL.format(name).encode()).hexdigest())
    return path if os.path.isfile(path) else None


class _Encodings:
    """Loaded encodings, once per process; remembers which ones are unavailable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, Encoding] = {}
        self._missing: set[str] = set()
        self._fetching: set[str] = set()

    def get(self, name: str) -> Encoding | None:
        encoding = self._loaded.get(name)
        if encoding is not None or name in self._missing:
            return encoding
        with self._lock:
            if name in self._loaded or name in self._missing:
                return self._loaded.get(name)
            try:
                encoding = load_shipped(name)
                if encoding is None:
                    if cached_file(name) is None:
                        self._unavailable(name)
                        return None
                    import tiktoken

                    encoding = tiktoken.get_encoding(name)
            except Exception as exc:  # a corrupt file: count approximately
                log.warning("llmprod: could not load tiktoken encoding %s (%s)", name, type(exc).__name__)
                self._missing.add(name)
                return None
            self._loaded[name] = encoding
            return encoding

    def _unavailable(self, name: str) -> None:
        self._missing.add(name)
        log.warning(
            "llmprod: tiktoken encoding %s is not in the cache (%s); token counts are approximate "
            "(%.0f characters a token) and marked estimated. Fetch it once with network "
            "(python -c \"import tiktoken; tiktoken.get_encoding('%s')\") or point TIKTOKEN_CACHE_DIR at a copy.",
            name,
            cache_dir() or "caching disabled",
            CHARS_PER_TOKEN,
            name,
        )
        if os.environ.get("LLMPROD_TIKTOKEN_DOWNLOAD", "1") != "0" and name not in self._fetching:
            self._fetching.add(name)
            threading.Thread(target=self._fetch, args=(name,), name=f"llmprod-tiktoken-{name}", daemon=True).start()

    def _fetch(self, name: str) -> None:
        import tiktoken

        try:
            encoding = tiktoken.get_encoding(name)
        except Exception as exc:
            log.warning("llmprod: background download of %s failed: %s", name, type(exc).__name__)
            return
        with self._lock:
            self._loaded[name] = encoding
            self._missing.discard(name)

    def reset(self) -> None:
        """Forget what was loaded or missing (tests, or after filling the cache)."""
        with self._lock:
            self._loaded.clear()
            self._missing.clear()


encodings = _Encodings()


def _approximate(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def count_text(text: str, model: str | None = None) -> TokenCount:
    """Tokens in ``text`` for ``model``'s encoding (special tokens count as text)."""
    encoding = encodings.get(encoding_name(model))
    if encoding is None:
        return TokenCount(_approximate(text), True)
    return TokenCount(len(encoding.encode(text, disallowed_special=())), False)


def count_messages(messages: Iterable[Message | Mapping[str, Any]], model: str | None = None) -> TokenCount:
    """Prompt tokens of a chat, counted the way OpenAI bills chat models.

    Text parts of multimodal content are counted; images and audio are not.
    Tool calls are counted as their JSON text (an approximation).
    """
    encoding = encodings.get(encoding_name(model))

    def n(text: str) -> int:
        if encoding is None:
            return _approximate(text)
        return len(encoding.encode(text, disallowed_special=()))

    total = REPLY_PRIMING
    for message in messages:
        fields = message if isinstance(message, Mapping) else message.to_openai()
        total += TOKENS_PER_MESSAGE
        for key, value in fields.items():
            if value is None:
                continue
            if key == "content" and not isinstance(value, str):
                value = "".join(str(p.get("text", "")) for p in value if p.get("type") == "text")
            elif not isinstance(value, str):
                value = json.dumps(value, separators=(",", ":"), default=str)
            total += n(value)
            if key == "name":
                total += TOKENS_PER_NAME
    return TokenCount(total, encoding is None)


def count_request(request: ChatRequest, model: str | None = None) -> TokenCount:
    """Prompt tokens of ``request`` (its messages, and its tools' JSON if any).

    Several layers need the count of one call (guards, rate limit, budget), the same
    prompts come back (a system prompt, a retried or cached question), and tokenizing is
    the costly part: the last counts are kept, keyed by the (immutable) messages and tools
    themselves, so a prompt is counted once.
    """
    key: tuple[object, ...] = (request.messages, request.tools, encoding_name(model or request.model))
    try:
        memo = _recent.get(key)
    except TypeError:  # a part that cannot be hashed (a dict in a tool): counted every time
        return _count(request, model or request.model)
    if memo is not None:
        return memo
    counted = _count(request, model or request.model)
    if len(_recent) >= _RECENT:
        with contextlib.suppress(RuntimeError, StopIteration, KeyError):  # another thread changed it: no matter
            del _recent[next(iter(_recent))]
    _recent[key] = counted
    return counted


def _count(request: ChatRequest, model: str | None) -> TokenCount:
    counted = count_messages(request.messages, model)
    if request.tools:
        from .._core.models import _plain

        tools = count_text(json.dumps(_plain(request.tools), separators=(",", ":"), default=str), model)
        counted = TokenCount(counted.tokens + tools.tokens, counted.estimated or tools.estimated)
    return counted


_recent: dict[tuple[object, ...], TokenCount] = {}
_RECENT = 1024
