"""Price rows from files: llmprod's own format (TOML or JSON) and LiteLLM's JSON.

llmprod's format is a list of ``[[model]]`` tables (``{"model": [...]}`` in JSON), the
format of the bundled snapshot. LiteLLM's ``model_prices_and_context_window.json`` is a
mapping of model name to an entry with ``input_cost_per_token``,
``output_cost_per_token`` (USD per token), ``cache_read_input_token_cost``,
``cache_creation_input_token_cost``, ``max_input_tokens``, ``max_output_tokens``,
``max_tokens`` and ``litellm_provider``; teams moving from LiteLLM can load theirs as is.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._core.errors import ConfigError

ROW_FIELDS = frozenset(
    {
        "name",
        "aliases",
        "prefixes",
        "input",
        "output",
        "cached_input",
        "cache_write",
        "context_window",
        "max_output",
        "provider",
        "source",
        "url",
        "read",
        "note",
    }
)
_PER_MILLION = Decimal(1_000_000)
# LiteLLM field -> llmprod field; token costs are per token there, per million here.
_LITELLM_COSTS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cached_input",
    "cache_creation_input_token_cost": "cache_write",
}


def read_file(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of a prices file and its ``[snapshot]`` table (empty when it has none)."""
    try:
        raw = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read prices: {exc.strerror or exc}", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    try:
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"cannot read prices: {exc}", path=str(path)) from None
    if not isinstance(data, Mapping):
        raise ConfigError("expected a table of prices", path=str(path))
    if "model" not in data and is_litellm(data):
        return litellm_rows(data, f"LiteLLM prices file {path.name}"), {}
    snapshot = data.get("snapshot", {})
    return own_rows(data, str(path)), dict(snapshot) if isinstance(snapshot, Mapping) else {}


def own_rows(data: Mapping[str, Any], origin: str) -> list[dict[str, Any]]:
    """The ``[[model]]`` rows of llmprod's format, checked for shape."""
    rows = data.get("model")
    if not isinstance(rows, list):
        raise ConfigError("expected a list of [[model]] tables", path=origin)
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or not isinstance(row.get("name"), str) or not row["name"]:
            raise ConfigError("each row needs a string 'name'", path=f"{origin}[{i}]")
        unknown = set(row) - ROW_FIELDS
        if unknown or "input" not in row or "output" not in row:
            raise ConfigError(f"needs input and output; unknown fields {sorted(unknown)}", path=f"{origin}[{i}]")
        for key in ("aliases", "prefixes"):
            names = row.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise ConfigError("expected a list of names", path=f"{origin}[{i}].{key}")
        out.append(dict(row))
    return out


def is_litellm(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` looks like LiteLLM's file: entries keyed by model with per-token costs."""
    entries = [v for v in data.values() if isinstance(v, Mapping)]
    return bool(entries) and any("input_cost_per_token" in v for v in entries)


def litellm_rows(data: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    """LiteLLM entries as llmprod rows. Entries with no per-token input cost (images,
    audio by the second) and LiteLLM's documentation entry ``sample_spec`` are skipped."""
    out = []
    for name, entry in data.items():
        if name == "sample_spec" or not isinstance(entry, Mapping) or "input_cost_per_token" not in entry:
            continue
        row: dict[str, Any] = {"name": name, "source": source}
        for theirs, ours in _LITELLM_COSTS.items():
            if theirs in entry:
                row[ours] = _per_million(entry[theirs], f"{source}[{name!r}].{theirs}")
        row.setdefault("output", 0.0)
        window = entry.get("max_input_tokens", entry.get("max_tokens"))
        if _is_count(window):
            row["context_window"] = window
        if _is_count(entry.get("max_output_tokens")):
            row["max_output"] = entry["max_output_tokens"]
        if isinstance(entry.get("litellm_provider"), str):
            row["provider"] = entry["litellm_provider"]
        out.append(row)
    return out


def _per_million(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"must be a number >= 0 (USD per token), got {value!r}", path=path)
    return float(Decimal(str(value)) * _PER_MILLION)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
