"""The package's shape: no import circles, phonenumbers loaded only when needed, the stream's bound."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import llmprod.pii as pii

PII = Path(pii.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every llmprod.pii module this file imports, at any level (type-checking and function imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {p.stem: _imports(p) for p in PII.glob("*.py")}
    circles = [(a, b) for a, deps in graph.items() for b in deps if a in graph.get(b, set())]
    assert circles == []


def test_import_llmprod_loads_no_phonenumbers_until_a_scan() -> None:
    code = (
        "import sys, llmprod, llmprod.pii as p; assert 'phonenumbers' not in sys.modules; "
        "p.redact('call +44 20 7946 0958'); assert 'phonenumbers' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hold_back_never_exceeds_the_stated_bound() -> None:
    s = pii.StreamRedactor()
    blob = "A1b2C3d4" * 2000  # one long token: no break anywhere
    text = "key: " + blob + " mail jo@example.com sk-proj-" + "x9" * 600 + " end"
    peak = 0
    out = []
    for i in range(0, len(text), 7):
        out.append(s.feed(text[i : i + 7]))
        peak = max(peak, s.held)
    out.append(s.flush())
    assert "".join(out) == pii.redact(text)
    assert peak <= s.redactor.scanner.reach + 8  # the longest match, its lookahead and one chunk
    assert s.bound >= peak
