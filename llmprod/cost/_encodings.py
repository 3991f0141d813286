"""The BPE encodings llmprod ships, so that token counts are exact with no network.

``llmprod/data/tiktoken/<name>.tiktoken.gz`` is OpenAI's published rank file for the
encoding, gzipped (2.4 MB for both instead of 5.3 MB). A rank file alone is not an
encoding: tiktoken also needs the split pattern and the special tokens, which it keeps
in code (``tiktoken_ext.openai_public``) next to the download URL. They are restated
here for the two encodings we ship; ``tests/cost/test_tokens.py`` checks them against
tiktoken's own. A file is used only when its SHA-256 is the one tiktoken publishes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from tiktoken import Encoding

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"


class Spec(NamedTuple):
    sha256: str  # of the uncompressed rank file, as tiktoken_ext.openai_public checks it
    pat_str: str
    special_tokens: dict[str, int]


_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

SHIPPED: dict[str, Spec] = {
    "o200k_base": Spec(
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PATTERN,
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    "cl100k_base": Spec(
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PATTERN,
        {
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
}


class CorruptEncodingError(ValueError):
    """A shipped rank file is not the one tiktoken publishes."""


def shipped_ranks(name: str) -> bytes | None:
    """The uncompressed rank file of ``name`` as shipped, or None when it is not here."""
    if name not in SHIPPED:
        return None
    from importlib import resources

    try:
        packed = (resources.files("llmprod") / "data" / "tiktoken" / f"{name}.tiktoken.gz").read_bytes()
    except OSError:  # stripped out of the installation
        return None
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != SHIPPED[name].sha256:
        raise CorruptEncodingError(f"the shipped {name} rank file does not match tiktoken's published hash")
    return data


def load_shipped(name: str) -> Encoding | None:
    """The tiktoken encoding ``name`` built from the shipped file, or None when not shipped."""
    data = shipped_ranks(name)
    if data is None:
        return None
    import tiktoken

    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    spec = SHIPPED[name]
    return tiktoken.Encoding(name, pat_str=spec.pat_str, mergeable_ranks=ranks, special_tokens=spec.special_tokens)
