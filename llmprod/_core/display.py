"""Small HTML tables for notebook reprs (``_repr_html_``). Everything is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import ChatResponse


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


def response_html(response: ChatResponse) -> str:
    usage = response.usage
    rows: list[tuple[str, object]] = [
        ("model", response.model),
        ("deployment", response.deployment),
        ("finish", response.finish_reason),
        (
            "tokens in / out",
            f"{usage.prompt_tokens} / {usage.completion_tokens}" + (" (est.)" if usage.estimated else ""),
        ),
        ("cost (USD)", response.cost),
        ("latency (s)", round(response.latency, 4)),
        ("attempts", response.attempts),
        ("cached", "stale" if response.stale else response.cached),
    ]
    if response.pii_redacted:
        rows.append(("PII redacted", ", ".join(f"{k} {v}" for k, v in sorted(response.pii_redacted.items()))))
    text = f"<pre style='white-space:pre-wrap'>{html.escape(response.text)}</pre>"
    return text + table("ChatResponse", ("field", "value"), rows)
