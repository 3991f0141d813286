"""Small HTML tables for notebook reprs (``_repr_html_``). Everything is escaped.

Generic on purpose: it renders rows it is given and knows no data class.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f"<div class='llmprod'><b>{html.escape(title)}</b>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def preformatted(text: str) -> str:
    return f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre>"
