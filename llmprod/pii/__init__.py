"""PII and secrets redaction with our own detectors, usable alone or as the client's PII layer.

    import llmprod.pii as pii

    pii.redact("mail jo@example.com or call +44 20 7946 0958")
    # 'mail [EMAIL] or call [PHONE]'

    r = pii.Redactor(mode="pseudonymize")
    r.redact("jo@example.com wrote to ann@example.org and jo@example.com")
    # '<EMAIL_1> wrote to <EMAIL_2> and <EMAIL_1>'
    r.restore("Reply to <EMAIL_2>")          # 'Reply to ann@example.org'

    s = pii.StreamRedactor()
    s.feed("mail jo") + s.feed("hn@exa") + s.feed("mple.com") + s.flush()
    # 'mail [EMAIL]'

Entities: SECRET, EMAIL, IBAN, CREDIT_CARD, SSN, IPV6, IPV4, PHONE, plus custom
:class:`Detector` s and model detectors (:class:`NERDetector`, extra ``ner``).
All patterns are compiled once, when this module is imported; phone numbers are
validated with libphonenumber's metadata, loaded on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._detectors import ENTITIES, Detector, SpanFinder
from ._ner import NERDetector
from ._redactor import Mode, Redaction, Redactor
from ._stream import StreamRedactor, StreamRestorer

__all__ = [
    "ENTITIES",
    "Detector",
    "NERDetector",
    "Redaction",
    "Redactor",
    "SpanFinder",
    "StreamRedactor",
    "StreamRestorer",
    "redact",
    "redact_with_counts",
]


def redact(
    text: str,
    *,
    mode: Mode = "mask",
    entities: Iterable[str] | None = None,
    detectors: Sequence[Detector | SpanFinder] = (),
) -> str:
    """``text`` with every PII value replaced by ``[TYPE]`` (or ``<TYPE_n>`` when pseudonymizing)."""
    return Redactor(mode=mode, entities=entities, detectors=detectors).redact(text)


def redact_with_counts(
    text: str,
    *,
    mode: Mode = "mask",
    entities: Iterable[str] | None = None,
    detectors: Sequence[Detector | SpanFinder] = (),
) -> Redaction:
    """The redacted text and how many values of each type were replaced (never the values)."""
    return Redactor(mode=mode, entities=entities, detectors=detectors).redact_with_counts(text)
