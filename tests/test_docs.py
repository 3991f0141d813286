"""Every ```python block in docs/ and README.md runs, alone (```py blocks are shown, not run).

Each block runs by itself, in a fresh interpreter, as a reader who pastes just that block
would run it: no block leans on one before it. A page that needs a server or a key uses
the simulated provider or the fault server instead.
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
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.M)


def test_there_are_runnable_pages() -> None:
    assert sum(bool(BLOCK.search(p.read_text())) for p in PAGES) >= 3


def test_the_readme_sample_says_what_is_a_placeholder_and_has_a_runnable_twin() -> None:
    """The "Use it" sample needs real servers and keys, so it is shown (```py), says so, and
    a ```python variant on the simulated provider, which test_page_code_runs runs, follows it."""
    use_it = (ROOT / "README.md").read_text().split("## Use it\n", 1)[1].split("\n## ", 1)[0]
    shown = re.findall(r"^```py\n(.*?)^```", use_it, re.S | re.M)
    runnable = BLOCK.findall(use_it)
    assert len(shown) == 1 and "gpu-1" in shown[0] and "sk-..." in shown[0]
    assert "placeholders" in use_it.split("```py")[0]
    assert len(runnable) == 1 and "llmprod.Simulated(" in runnable[0]
    assert "api_key" not in runnable[0] and "base_url" not in runnable[0]


def _blocks() -> list[object]:
    return [
        pytest.param(page, i, block, id=f"{page.relative_to(ROOT)}#{i}")
        for page in PAGES
        for i, block in enumerate(BLOCK.findall(page.read_text()))
    ]


@pytest.mark.parametrize(("page", "index", "block"), _blocks())
def test_each_block_runs_alone(page: Path, index: int, block: str) -> None:
    code = textwrap.dedent(block)
    missing = sorted({m for m in IMPORT.findall(code) if importlib.util.find_spec(m) is None})
    if missing:
        pytest.skip(f"{page.name} block {index} needs {', '.join(missing)} (an optional extra)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, f"{page.name} block {index} failed alone:\n{done.stderr[-3000:]}"
