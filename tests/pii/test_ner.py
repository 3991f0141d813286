"""The NER detector with a spaCy model trained here, on this machine (no model hub is reached)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

import llmprod.pii as pii
from llmprod import ConfigError

spacy = pytest.importorskip("spacy", reason="the ner extra is not installed")

NAMES = ["Maria Garcia", "John Smith", "Aiko Tanaka", "Pierre Dubois", "Olga Ivanova", "Ahmed Khan"]
ORGS = ["Acme Corp", "Globex", "Initech", "Umbrella Ltd"]
PLACES = ["Berlin", "Lyon", "Osaka", "Toronto"]
TEMPLATES = ["{p} works at {o} in {l}", "Ask {p} from {o}", "{p} moved to {l}", "{o} hired {p} last week"]


def _train(path: Path) -> None:
    from spacy.training import Example

    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner")
    for label in ("PERSON", "ORG", "GPE"):
        ner.add_label(label)
    r = random.Random(1)
    examples = []
    for _ in range(120):
        p, o, loc = r.choice(NAMES), r.choice(ORGS), r.choice(PLACES)
        text = r.choice(TEMPLATES).format(p=p, o=o, l=loc)
        ents = [
            (text.index(v), text.index(v) + len(v), k)
            for v, k in ((p, "PERSON"), (o, "ORG"), (loc, "GPE"))
            if v in text
        ]
        examples.append(Example.from_dict(nlp.make_doc(text), {"entities": ents}))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        r.shuffle(examples)
        nlp.update(examples, sgd=optimizer, drop=0.1)
    nlp.to_disk(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("ner") / "tiny"
    _train(path)
    return path


def test_streamed_equals_batch_and_holds_one_unit(model: Path) -> None:
    ner = pii.NERDetector(model, unit_max=80)
    text = "Ask John Smith from Globex. Olga Ivanova moved to Osaka.\nAiko Tanaka works at Initech in Lyon. " * 3
    s = pii.StreamRedactor(detectors=[ner])
    out = []
    for i in range(0, len(text), 3):
        out.append(s.feed(text[i : i + 3]))
        assert s.held <= 80 + s.redactor.scanner.reach
    out.append(s.flush())
    assert "".join(out) == pii.redact(text, detectors=[ner])
    assert "[PERSON]" in "".join(out)


def test_offline_errors_are_typed() -> None:
    with pytest.raises(ConfigError, match="nothing is downloaded"):
        pii.NERDetector("en_core_web_nonexistent_model")
