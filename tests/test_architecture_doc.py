"""docs/architecture.md shows the stack as the code prints it: the page cannot drift."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).parent.parent / "docs" / "architecture.md"
PAIR = re.compile(r"```python\n(.*?)```\n\n[^`]*?```text\n(.*?)```", re.S)


def test_the_printed_stacks_on_the_page_are_what_the_code_prints() -> None:
    pairs = PAIR.findall(PAGE.read_text(encoding="utf-8"))
    assert len(pairs) == 2
    for code, shown in pairs:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(PAGE), "exec"), {})
        assert out.getvalue() == shown
