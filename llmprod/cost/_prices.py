"""Prices and the cost of a call: pure functions over a table.

The built-in table is a data file shipped in the package (``llmprod/data/prices.toml``),
read on first lookup. Users add or override rows with :meth:`PriceTable.register` or
:meth:`PriceTable.load` on the process-wide table, ``llmprod.cost.prices``.

A lookup tries the exact name, then the name without a provider prefix
(``openai/gpt-4o``), then without a dated snapshot suffix (``gpt-4o-2024-08-06``,
``claude-sonnet-4-5-20250929``, ``mistral-large-2411``). An unknown model costs
``None`` and logs one warning per model; with ``strict = True`` it raises
:class:`ConfigError` instead.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from .._core.errors import ConfigError
from .._core.models import Usage

log = logging.getLogger("llmprod")

PER_TOKENS = 1_000_000
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{2}-\d{4})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """One model's prices in USD per million tokens, and its limits.

    ``cached_input`` prices prompt tokens read from the provider's prompt cache and
    ``cache_write`` those written to it; when None they are priced as ``input``.
    """

    model: str
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    context_window: int | None = None
    max_output: int | None = None
    provider: str | None = None
    source: str | None = None
    read: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input", "cache_write"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise ConfigError(f"must be a number >= 0, got {value!r}", path=f"prices.{self.model}.{name}")

    def output_limit(self, prompt_tokens: int = 0) -> int | None:
        """The most completion tokens a call can produce: max output, else what the window leaves."""
        if self.max_output is not None:
            return self.max_output
        if self.context_window is not None:
            return max(self.context_window - prompt_tokens, 0)
        return None


def _d(value: float | None) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def cost(usage: Usage, price: Price) -> float:
    """The USD cost of ``usage`` at ``price``, computed in decimal, rounded once.

    ``usage.prompt_tokens`` includes cached and cache-written tokens (OpenAI's
    convention); each part is priced at its own rate.
    """
    cached = max(usage.cached_tokens, 0)
    written = max(usage.cache_write_tokens, 0)
    uncached = max(usage.prompt_tokens - cached - written, 0)
    cached_rate = _d(price.cached_input if price.cached_input is not None else price.input)
    write_rate = _d(price.cache_write if price.cache_write is not None else price.input)
    total = (
        uncached * _d(price.input)
        + cached * cached_rate
        + written * write_rate
        + max(usage.completion_tokens, 0) * _d(price.output)
    )
    return float(total / PER_TOKENS)


def worst_case(prompt_tokens: int, max_tokens: int, price: Price) -> float:
    """The most a call can cost: every prompt token uncached, ``max_tokens`` of output."""
    return cost(Usage(prompt_tokens=prompt_tokens, completion_tokens=max_tokens), price)


def candidates(model: str) -> list[str]:
    """Names to try for ``model``, most specific first."""
    names = [model]
    bare = model.rsplit("/", 1)[-1]
    if bare != model:
        names.append(bare)
    stripped = _SNAPSHOT.sub("", bare)
    if stripped != bare:
        names.append(stripped)
    return names


class PriceTable:
    """Model name -> :class:`Price`. Thread-safe; user rows override built-in ones."""

    def __init__(self, *, builtin: bool = True, strict: bool = False) -> None:
        self.strict = strict
        self._lock = threading.Lock()
        self._builtin: dict[str, Price] | None = None if builtin else {}
        self._user: dict[str, Price] = {}
        self._merged: dict[str, Price] | None = None
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"PriceTable({len(self._rows())} models, strict={self.strict})"

    def _rows(self) -> dict[str, Price]:
        merged = self._merged
        if merged is not None:
            return merged
        with self._lock:
            if self._builtin is None:
                text = resources.files("llmprod").joinpath("data/prices.toml").read_text("utf-8")
                self._builtin = _parse(tomllib.loads(text), "llmprod/data/prices.toml")
            merged = self._merged = {**self._builtin, **self._user}
        return merged

    def register(self, model: str, *, input: float, output: float, **details: Any) -> Price:
        """Add or replace the price of ``model`` (USD per million tokens).

        Replacing a known model's price keeps its context window, max output and
        provider unless given. ``details``: ``cached_input``, ``cache_write``, ``context_window``,
        ``max_output``, ``provider``, ``source``, ``read``, ``note``, ``aliases``.
        """
        aliases = details.pop("aliases", ())
        unknown = set(details) - {f.name for f in fields(Price)}
        if unknown:
            raise ConfigError(f"unknown price fields {sorted(unknown)}", path=f"prices.{model}")
        known = self.find(model)
        if known is not None:  # a new price for a known model keeps its limits
            for name in ("context_window", "max_output", "provider"):
                details.setdefault(name, getattr(known, name))
        price = Price(model=model, input=input, output=output, **details)
        with self._lock:
            for name in (model, *aliases):
                self._user[name] = price
            self._merged = None
        return price

    def load(self, path: str | Path) -> int:
        """Register every row of a TOML or JSON file in the built-in file's format."""
        path = Path(path)
        try:
            raw = path.read_text("utf-8")
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read prices: {exc}", path=str(path)) from None
        rows = _parse(data, str(path))
        with self._lock:
            self._user.update(rows)
            self._merged = None
        return len({p.model for p in rows.values()})

    def find(self, model: str | None) -> Price | None:
        """The price of ``model``, or None; never warns nor raises."""
        if model:
            rows = self._rows()
            for name in candidates(model):
                price = rows.get(name)
                if price is not None:
                    return price
        return None

    def lookup(self, model: str | None) -> Price | None:
        """The price of ``model``, or None (warned once; raises when ``strict``)."""
        price = self.find(model)
        if price is not None:
            return price
        if self.strict:
            raise ConfigError(
                f"no price for model {model!r}; "
                f"add one with llmprod.cost.prices.register({model!r}, input=..., output=...)",
                path="prices",
            )
        key = model or "<none>"
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "llmprod: no price for model %r; its calls cost None (llmprod.cost.prices.register adds one)", key
            )
        return None

    def cost(self, usage: Usage, model: str | None) -> float | None:
        """The USD cost of ``usage`` on ``model``, or None when it has no price."""
        price = self.lookup(model)
        return cost(usage, price) if price is not None else None

    def models(self) -> list[Price]:
        """Every distinct row, built-in and user, by model name."""
        unique = {p.model: p for p in self._rows().values()}
        return [unique[k] for k in sorted(unique)]


def _parse(data: Mapping[str, Any], origin: str) -> dict[str, Price]:
    rows = data.get("model")
    if not isinstance(rows, list):
        raise ConfigError("expected a list of [[model]] tables", path=origin)
    out: dict[str, Price] = {}
    known = {f.name for f in fields(Price)}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or not isinstance(row.get("name"), str):
            raise ConfigError("each row needs a string 'name'", path=f"{origin}[{i}]")
        values = {k: v for k, v in row.items() if k in known}
        unknown = set(row) - known - {"name", "aliases"}
        if unknown or "input" not in row or "output" not in row:
            raise ConfigError(f"needs input and output; unknown fields {sorted(unknown)}", path=f"{origin}[{i}]")
        price = Price(model=row["name"], **values)
        for name in (row["name"], *row.get("aliases", ())):
            out[name] = price
    return out


prices = PriceTable()
"""The process-wide price table: ``llmprod.cost.prices.register(...)``, ``.load(path)``, ``.strict``."""


def context_window(model: str | None) -> int | None:
    """``model``'s context window from the price table, or None when not known."""
    price = prices.find(model)
    return price.context_window if price is not None else None


def format_prices(model: str | None = None, table: PriceTable | None = None) -> str:
    """The price table as text (``llmprod prices [MODEL]``); empty when ``model`` is unknown."""
    table = table or prices
    if model is not None:
        price = table.find(model)
        if price is None:
            return ""
        rows = [price]
    else:
        rows = table.models()

    def money(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    lines = [f"{'model':<28} {'input':>8} {'cached':>8} {'write':>8} {'output':>8} {'context':>9}  USD per 1M tokens"]
    for p in rows:
        window = f"{p.context_window:,}" if p.context_window else "-"
        lines.append(
            f"{p.model:<28} {money(p.input):>8} {money(p.cached_input):>8} {money(p.cache_write):>8} "
            f"{money(p.output):>8} {window:>9}  {p.provider or ''}"
        )
        if model is not None:
            lines.append(f"source: {p.source or '-'} (read {p.read or '-'})" + (f"\nnote: {p.note}" if p.note else ""))
    return "\n".join(lines) + "\n"
