"""Names, places and organisations, found by a spaCy NER model (extra ``ner``).

Patterns cannot find a person's name; a model can. :class:`NERDetector` runs a
spaCy pipeline that is already installed or saved on disk (it never downloads
one) and reports ``PERSON``, ``LOCATION`` and ``ORGANIZATION`` spans.

A model decides from context, so it reads the text in *units*: a line, cut after
a sentence's end (``. `` ``! `` ``? ``) or, for a line longer than ``unit_max``, at
the last space before that length. Batch and stream cut the same units, so the
stream redactor gives the same output as the batch one and holds back at most one
unit (``unit_max`` characters).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ._detectors import Span

PERSON = "PERSON"
LOCATION = "LOCATION"
ORGANIZATION = "ORGANIZATION"

LABELS: Mapping[str, str] = {
    "PERSON": PERSON,
    "PER": PERSON,
    "GPE": LOCATION,
    "LOC": LOCATION,
    "FAC": LOCATION,
    "ADDRESS": LOCATION,
    "ORG": ORGANIZATION,
}
"""Model labels (spaCy's OntoNotes and WikiNER schemes) to entity types."""

_UNIT_END = re.compile(r"\n|[.!?](?= )")


class NERDetector:
    """A spaCy NER model as a detector: ``Redactor(detectors=[NERDetector("en_core_web_sm")])``.

    ``model`` is an installed pipeline's name, a path to a saved one, or a loaded
    ``spacy.Language``. ``labels`` maps the model's labels to entity types (default
    :data:`LABELS`); labels it does not list are ignored. Nothing is downloaded: a
    missing spaCy raises ``MissingDependencyError`` (extra ``ner``), a missing model
    ``ConfigError``.
    """

    __slots__ = ("_labels", "_nlp", "entities", "unit_max")

    def __init__(
        self, model: str | os.PathLike[str] | Any, *, labels: Mapping[str, str] | None = None, unit_max: int = 400
    ) -> None:
        from .._core.errors import ConfigError

        self._labels = dict(LABELS if labels is None else labels)
        self.entities: tuple[str, ...] = tuple(dict.fromkeys(self._labels.values()))
        if unit_max < 16:
            raise ConfigError(f"must be >= 16, got {unit_max!r}", path="pii.ner.unit_max")
        self.unit_max = unit_max
        self._nlp = _load(model) if isinstance(model, (str, os.PathLike)) else model

    def __repr__(self) -> str:
        return f"NERDetector(entities={self.entities!r}, unit_max={self.unit_max})"

    def units(self, text: str, pos: int, endpos: int) -> list[tuple[int, int]]:
        """The units of ``text[pos:endpos]`` the model reads one at a time."""
        out = []
        start = pos
        while start < endpos:
            end = self._unit_end(text, start, endpos)
            out.append((start, end))
            start = end
        return out

    def _unit_end(self, text: str, start: int, endpos: int) -> int:
        limit = min(endpos, start + self.unit_max)
        m = _UNIT_END.search(text, start, limit)
        if m is not None:
            return m.end()
        if limit == endpos:
            return endpos
        space = text.rfind(" ", start + 1, limit)
        return space + 1 if space != -1 else limit

    def find(self, text: str, pos: int, endpos: int, out: list[Span]) -> None:
        labels = self._labels
        for start, end in self.units(text, pos, endpos):
            piece = text[start:end]
            if not piece.strip():
                continue
            for ent in self._nlp(piece).ents:
                kind = labels.get(ent.label_)
                if kind is not None:
                    out.append((start + ent.start_char, start + ent.end_char, kind))


def _load(model: str | os.PathLike[str]) -> Any:
    from .._core.errors import ConfigError, MissingDependencyError

    try:
        import spacy
    except ImportError:
        raise MissingDependencyError("spacy", "ner") from None
    try:
        return spacy.load(os.fspath(model))
    except OSError:
        name = os.fspath(model)
        raise ConfigError(
            f"no spaCy model {name!r} is installed or saved there; install one (pip install <model package>) "
            "or pass the path of a saved pipeline: nothing is downloaded",
            path="pii.ner.model",
        ) from None
