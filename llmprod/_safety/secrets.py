"""Scrub key-shaped strings out of text we did not write (a provider's error message).

Some providers echo the API key they were sent in their error text, and some put keys
in URLs. Before such text becomes part of an exception message it passes through
:func:`scrub_secrets`, which replaces anything shaped like a key with ``[REDACTED]``:
prefixed keys (``sk-...``, ``sk-ant-...``, ``hf_...``, ``AIza...``), bearer tokens, ``key=``-style
URL parameters, and long unbroken runs of letters and digits (32 or more, the shape of
a random key) that are not hex digests or UUIDs, which error texts quote as ids.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

_SECRET = re.compile(
    r"\b(?:sk|pk|rk|gsk|hf|r8|nvapi|xox[abpr])[-_][A-Za-z0-9_\-]{12,}|\bAIza[A-Za-z0-9_\-]{35}"  # prefixed keys
    r"|(?<=Bearer )[A-Za-z0-9._~+/\-]{8,}=*"  # bearer tokens
    r"|(?<=[?&])(?:key|api_key|apikey|api-key|token|access_token|secret)=[^&\s\"']+"  # URL parameters
    r"|\b(?=[a-z0-9]*[g-z])(?=[a-z0-9]*\d)[a-z0-9]{32,}\b",  # long random runs, not hex
    re.IGNORECASE,
)


def scrub_secrets(text: str) -> str:
    """``text`` with key-shaped strings replaced by ``[REDACTED]``."""
    return _SECRET.sub(REDACTED, text)
