"""Every ```python block in docs/ and README.md runs (```py blocks are shown, not run).

Blocks in one page run in order in one namespace, as a reader would paste them. A page that
needs a server or a key uses the simulated provider or the fault server instead.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.M)


def test_there_are_runnable_pages() -> None:
    assert sum(bool(BLOCK.search(p.read_text())) for p in PAGES) >= 3


@pytest.mark.parametrize(
    "page", [p for p in PAGES if BLOCK.search(p.read_text())], ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_code_runs(page: Path) -> None:
    code = "\n\n".join(textwrap.dedent(b) for b in BLOCK.findall(page.read_text()))
    missing = sorted({m for m in IMPORT.findall(code) if importlib.util.find_spec(m) is None})
    if missing:
        pytest.skip(f"{page.name} needs {', '.join(missing)} (an optional extra)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, f"{page.name} failed:\n{done.stderr[-3000:]}"
