"""Prices and the cost of a call: pure functions over a table.

The built-in rows are a snapshot of pydantic's genai-prices shipped in the package
(``llmprod/data/prices.toml``, written by ``scripts/update_prices.py``, which records the
genai-prices version), read on first lookup. With the ``prices`` extra,
:meth:`PriceTable.use_genai_prices` swaps in the installed genai-prices' data and can keep
it current. Users add or override rows with :meth:`PriceTable.register` or
:meth:`PriceTable.load` (llmprod's format, or LiteLLM's JSON) on the process-wide table,
``llmprod.cost.prices``; their rows win over the built-in ones.

A name resolves by, in order: the exact name, the name without a provider prefix
(``openai/gpt-4o``), without a dated snapshot suffix (``gpt-4o-2024-08-06``,
``claude-sonnet-4-5-20250929``, ``mistral-large-2411``), the same in lower case, then
the longest known name prefix (genai-prices' ``starts_with`` rules). A name is
resolved once; later lookups of it are one dict hit. An unknown model costs ``None``
and logs one warning per model; with ``strict = True`` it raises :class:`ConfigError`.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
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
    """One model's prices in USD per million tokens, its limits, and where they came from.

    ``cached_input`` prices prompt tokens read from the provider's prompt cache and
    ``cache_write`` those written to it; when None they are priced as ``input``.
    ``source`` says where the row came from (``genai-prices 0.2.3``, a file, a call to
    ``register``), ``url`` the provider's pricing page and ``read`` the date it holds for.
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
    url: str | None = None
    read: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input", "cache_write"):
            value = getattr(self, name)
            if value is None and name in ("cached_input", "cache_write"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"must be a number >= 0, got {value!r}", path=f"prices.{self.model}.{name}")
        for name in ("context_window", "max_output"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ConfigError(f"must be a whole number > 0, got {value!r}", path=f"prices.{self.model}.{name}")

    def output_limit(self, prompt_tokens: int = 0) -> int | None:
        """The most completion tokens a call can produce: max output, else what the window leaves."""
        if self.max_output is not None:
            return self.max_output
        if self.context_window is not None:
            return max(self.context_window - prompt_tokens, 0)
        return None


@functools.lru_cache(maxsize=4096)
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


_UNSET: Any = object()
_MEMO_MAX = 4096  # names resolved and remembered; past it a lookup resolves each time


class PriceTable:
    """Model name -> :class:`Price`. Thread-safe; user rows override built-in ones."""

    def __init__(self, *, builtin: bool = True, strict: bool = False) -> None:
        self.strict = strict
        self.origin = "llmprod/data/prices.toml" if builtin else "none"
        self._lock = threading.Lock()
        self._builtin: _Rows | None = None if builtin else _Rows({}, ())
        self._user = _Rows({}, ())
        self._merged: _Rows | None = None
        self._resolved: dict[str, Price | None] = {}
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"PriceTable({len(self.models())} models from {self.origin}, strict={self.strict})"

    def _rows(self) -> _Rows:
        merged = self._merged
        if merged is not None:
            return merged
        with self._lock:
            if self._builtin is None:
                self._builtin, self.origin = _bundled()
            merged = self._merged = self._user.over(self._builtin)
        return merged

    def _changed(self) -> None:  # caller holds the lock
        self._merged = None
        self._resolved = {}

    def set_builtin(self, rows: Sequence[Mapping[str, Any]], *, origin: str) -> int:
        """Replace the built-in rows (user rows still win); returns how many models."""
        parsed = _index(rows, origin)
        with self._lock:
            self._builtin = parsed
            self.origin = origin
            self._changed()
        return len({p.model for p in parsed.names.values()})

    def register(self, model: str, *, input: float, output: float, **details: Any) -> Price:
        """Add or replace the price of ``model`` (USD per million tokens).

        Replacing a known model's price keeps its context window, max output and
        provider unless given. ``details``: ``cached_input``, ``cache_write``, ``context_window``,
        ``max_output``, ``provider``, ``source``, ``url``, ``read``, ``note``, ``aliases``.
        """
        aliases = details.pop("aliases", ())
        unknown = set(details) - {f.name for f in fields(Price)}
        if unknown:
            raise ConfigError(f"unknown price fields {sorted(unknown)}", path=f"prices.{model}")
        known = self.find(model)
        if known is not None:  # a new price for a known model keeps its limits
            for name in ("context_window", "max_output", "provider"):
                details.setdefault(name, getattr(known, name))
        details.setdefault("source", "llmprod.cost.prices.register")
        price = Price(model=model, input=input, output=output, **details)
        with self._lock:
            names = {**self._user.names, **dict.fromkeys((model, *aliases), price)}
            self._user = _Rows(names, self._user.prefixes)
            self._changed()
        return price

    def load(self, path: str | Path) -> int:
        """Register every row of a prices file; returns how many models.

        The file is llmprod's format (TOML, or JSON ``{"model": [...]}``) or LiteLLM's
        ``model_prices_and_context_window.json``. Rows without a ``source`` get the file's name.
        """
        from ._price_rows import read_file

        path = Path(path)
        rows, _ = read_file(path)
        parsed = _index([{"source": f"file {path.name}", **row} for row in rows], str(path))
        with self._lock:
            self._user = parsed.over(self._user)
            self._changed()
        return len({p.model for p in parsed.names.values()})

    def use_genai_prices(self, *, update: bool = False, url: str | None = None, interval: float = 3600.0) -> Any:
        """Take the built-in rows from the installed genai-prices (the ``prices`` extra).

        ``update=True`` starts its updater: a fetch of its latest data now and every
        ``interval`` seconds, each one replacing the rows. Returns the updater (``stop()``
        ends it) or None. Call at start-up: importing genai-prices takes about 0.3 s.
        """
        from ._genai_prices import use_genai_prices

        return use_genai_prices(self, update=update, url=url, interval=interval)

    def find(self, model: str | None) -> Price | None:
        """The price of ``model``, or None; never warns nor raises. One dict hit once resolved."""
        if not model:
            return None
        resolved = self._resolved
        price = resolved.get(model, _UNSET)
        if price is _UNSET:
            price = self._rows().resolve(model)
            if len(resolved) < _MEMO_MAX:
                resolved[model] = price
        return price  # type: ignore[no-any-return]

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
        unique = {p.model: p for p in self._rows().names.values()}
        return [unique[k] for k in sorted(unique)]

    def names(self) -> list[str]:
        """Every name a row answers to (models and aliases)."""
        return sorted(self._rows().names)


@dataclass(frozen=True, slots=True)
class _Rows:
    """Rows by name, and name prefixes longest first."""

    names: dict[str, Price]
    prefixes: tuple[tuple[str, Price], ...]

    def over(self, other: _Rows) -> _Rows:
        """These rows over ``other``'s. A row named as one of ``other``'s models replaces
        that model under every name it answers to (its aliases and prefixes too)."""
        replaced = {
            id(old): price
            for name, price in self.names.items()
            if (old := other.names.get(name)) is not None and old.model == name
        }
        names = {n: replaced.get(id(p), p) for n, p in other.names.items()}
        names.update(self.names)
        theirs = tuple((prefix, replaced.get(id(p), p)) for prefix, p in other.prefixes)
        prefixes = sorted((*self.prefixes, *theirs), key=lambda kv: -len(kv[0]))  # stable: self first
        return _Rows(names, tuple(prefixes))

    def resolve(self, model: str) -> Price | None:
        names = candidates(model)
        for name in (*names, *(n.lower() for n in names)):
            price = self.names.get(name)
            if price is not None:
                return price
        for name in names:
            lowered = name.lower()
            for prefix, price in self.prefixes:
                if lowered.startswith(prefix):
                    return price
        return None


def _index(rows: Sequence[Mapping[str, Any]], origin: str) -> _Rows:
    names: dict[str, Price] = {}
    prefixes: list[tuple[str, Price]] = []
    known = {f.name for f in fields(Price)} - {"model"}
    for i, row in enumerate(rows):
        try:
            price = Price(model=row["name"], **{k: v for k, v in row.items() if k in known})
        except ConfigError as exc:
            raise ConfigError(exc.message.split(": ", 1)[-1], path=f"{origin}[{i}] ({row['name']})") from None
        except TypeError as exc:
            raise ConfigError(str(exc), path=f"{origin}[{i}]") from None
        provider = row.get("provider")
        for name in (row["name"], *row.get("aliases", ())):
            names.setdefault(name, price)  # the first provider's row wins a bare name
            if isinstance(provider, str) and "/" not in name:
                names.setdefault(f"{provider}/{name}", price)
        prefixes.extend((p.lower(), price) for p in row.get("prefixes", ()))
    return _Rows(names, tuple(sorted(prefixes, key=lambda kv: -len(kv[0]))))


def _bundled() -> tuple[_Rows, str]:
    import tomllib

    from ._price_rows import own_rows

    text = resources.files("llmprod").joinpath("data/prices.toml").read_text("utf-8")
    data = tomllib.loads(text)
    rows = own_rows(data, "llmprod/data/prices.toml")
    snapshot = data.get("snapshot", {})
    version, as_of = snapshot.get("genai_prices", "?"), snapshot.get("as_of", "?")
    origin = f"llmprod/data/prices.toml (genai-prices {version}, {as_of})"
    return _index(rows, "llmprod/data/prices.toml"), origin


prices = PriceTable()
"""The process-wide price table: ``llmprod.cost.prices.register(...)``, ``.load(path)``, ``.strict``."""


def context_window(model: str | None) -> int | None:
    """``model``'s context window from the price table, or None when not known."""
    price = prices.find(model)
    return price.context_window if price is not None else None
