"""Prices from pydantic's genai-prices (the ``prices`` extra): the maintained source.

genai-prices keeps prices for many providers, by request date, with an opt-in updater
that fetches its latest data from its repository. llmprod reads it in two ways:

- ``scripts/update_prices.py`` writes its rows into the bundled snapshot
  (``llmprod/data/prices.toml``), which records the genai-prices version;
- :func:`use_genai_prices` (``llmprod.cost.prices.use_genai_prices()``) replaces the
  built-in rows with the installed genai-prices' data at run time and, with
  ``update=True``, keeps them current with its ``UpdatePrices`` thread.

Either way each genai-prices model becomes one flat row (USD per million tokens as of
a date) so that a lookup on the call path stays a dict hit. This is the only module
that imports ``genai_prices``, and only inside these functions: importing it takes
about a third of a second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from .._core.errors import MissingDependencyError


class RowsTarget(Protocol):
    """What receives the rows: a :class:`~llmprod.cost._prices.PriceTable`."""

    def set_builtin(self, rows: Sequence[Mapping[str, Any]], *, origin: str) -> int: ...


# The providers llmprod talks to directly come first: a bare model name served by many
# providers takes the first one's price. Every row is also reachable as "provider/model".
PROVIDERS: tuple[str, ...] = (
    "openai",
    "anthropic",
    "google",
    "mistral",
    "cohere",
    "deepseek",
    "x-ai",
    "groq",
    "together",
    "fireworks",
    "perplexity",
    "cerebras",
    "moonshotai",
    "zai",
)
PACKAGE = "genai-prices"


def version() -> str:
    """The installed genai-prices version; MissingDependencyError without the extra."""
    _require()
    from importlib.metadata import version as dist_version

    return dist_version(PACKAGE)


def _require() -> Any:
    try:
        import genai_prices
    except ImportError:
        raise MissingDependencyError(PACKAGE, "prices") from None
    return genai_prices


@dataclass(frozen=True, slots=True)
class _Clauses:
    equals: tuple[str, ...]
    prefixes: tuple[str, ...]


def _clauses(match: Any) -> _Clauses:
    """The names (``equals``) and prefixes (``starts_with``) of a match rule; other clauses
    (contains, regex, ends_with) have no dict form and are left to dated-name stripping."""
    equals: list[str] = []
    prefixes: list[str] = []

    def walk(node: Any) -> None:
        if hasattr(node, "equals"):
            equals.append(node.equals.lower())
        elif hasattr(node, "starts_with"):
            prefixes.append(node.starts_with.lower())
        elif hasattr(node, "or_"):
            for child in node.or_:
                walk(child)
        # An "and" narrows a match (a prefix minus some names): none of its parts alone is safe.

    walk(match)
    return _Clauses(tuple(dict.fromkeys(equals)), tuple(dict.fromkeys(prefixes)))


def _number(value: Any) -> tuple[float | None, str | None]:
    """A price as a float, and a note when it has tiers (the base rate is kept)."""
    if value is None:
        return None, None
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        steps = ", ".join(f"{t.price} from {t.start:,} prompt tokens" for t in tiers)
        return float(value.base), steps
    if isinstance(value, Decimal | int | float):
        return float(value), None
    return None, None


def rows(
    providers: Iterable[Any],
    *,
    source: str,
    when: dt.datetime | None = None,
    only: Sequence[str] = PROVIDERS,
) -> Iterator[dict[str, Any]]:
    """genai-prices providers as llmprod price rows (plain dicts, the snapshot's format).

    ``when`` picks the prices in force at that time (default: now). Models priced by
    anything but tokens (audio hours, images only) are left out.
    """
    when = when or dt.datetime.now(dt.UTC)
    by_id = {p.id: p for p in providers}
    claimed: set[str] = set()
    claimed_prefixes: list[str] = []
    for provider_id in only:
        provider = by_id.get(provider_id)
        if provider is None:
            continue
        url = (provider.pricing_urls or [None])[0]
        for model in provider.models:
            row = _row(provider_id, model, when, source, url)
            if row is None:
                continue
            names = [row["name"], *row.get("aliases", ())]
            if any(n in claimed or n.startswith(tuple(claimed_prefixes)) for n in names):
                # An earlier provider answers to this name (Google's Claude on Vertex is
                # Anthropic's model): this provider's row keeps only its prefixed names.
                _prefix_names(row, provider_id)
            else:
                claimed.update(names)
                claimed_prefixes.extend(row.get("prefixes", ()))
            yield row


def _prefix_names(row: dict[str, Any], provider: str) -> None:
    for key in ("aliases", "prefixes"):
        if key in row:
            row[key] = [f"{provider}/{n}" for n in row[key]]
    row["name"] = f"{provider}/{row['name']}"


def _row(provider: str, model: Any, when: dt.datetime, source: str, url: str | None) -> dict[str, Any] | None:
    price = model.get_prices(when)
    values: dict[str, float | None] = {}
    notes: list[str] = []
    for ours, theirs in (
        ("input", "input_mtok"),
        ("output", "output_mtok"),
        ("cached_input", "cache_read_mtok"),
        ("cache_write", "cache_write_mtok"),
    ):
        number, tiers = _number(getattr(price, theirs, None))
        values[ours] = number
        if tiers:
            notes.append(f"{ours} rises to {tiers} (the base rate is used)")
    if values["input"] is None:
        return None
    clauses = _clauses(model.match)
    name = model.id.lower()
    row: dict[str, Any] = {
        "name": name,
        "provider": provider,
        "input": values["input"],
        "output": values["output"] or 0.0,
    }
    for key in ("cached_input", "cache_write"):
        if values[key] is not None:
            row[key] = values[key]
    if model.context_window:
        row["context_window"] = int(model.context_window)
    aliases = [a for a in clauses.equals if a != name]
    if aliases:
        row["aliases"] = aliases
    if clauses.prefixes:
        row["prefixes"] = list(clauses.prefixes)
    row["source"] = source
    if url:
        row["url"] = url
    row["read"] = when.date().isoformat()
    if model.deprecated:
        notes.append("deprecated by the provider")
    if notes:
        row["note"] = "; ".join(notes)
    return row


def installed_rows(*, when: dt.datetime | None = None, only: Sequence[str] = PROVIDERS) -> list[dict[str, Any]]:
    """Rows from the installed genai-prices: its bundled data, or what its updater fetched."""
    _require()
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    origin = "fetched by genai-prices' updater" if snapshot.from_auto_update else "bundled"
    return list(rows(snapshot.providers, source=f"{PACKAGE} {version()} ({origin})", when=when, only=only))


def use_genai_prices(
    table: RowsTarget,
    *,
    update: bool = False,
    url: str | None = None,
    interval: float = 3600.0,
    wait: float | bool = False,
) -> Any:
    """Make the installed genai-prices the built-in rows of ``table`` (user rows still win).

    With ``update=True`` it starts genai-prices' ``UpdatePrices`` (one background thread,
    a fetch from its repository now and every ``interval`` seconds; ``url`` overrides
    where from): each fetch replaces the rows. Returns the updater (``.stop()`` ends it)
    or None. Call it at start-up: it imports genai-prices (about 0.3 s).
    """
    genai_prices = _require()
    table.set_builtin(installed_rows(), origin=f"{PACKAGE} {version()}")
    if not update:
        return None
    base = genai_prices.UpdatePrices

    class _Updater(base):  # type: ignore[misc, valid-type]
        def fetch(self) -> Any:
            snapshot = super().fetch()
            if snapshot is not None:
                fetched = rows(snapshot.providers, source=f"{PACKAGE} {version()} (fetched from {self.url})")
                table.set_builtin(list(fetched), origin=f"{PACKAGE} update")
            return snapshot

    options: dict[str, Any] = {"update_interval": interval}
    if url is not None:
        options["url"] = url
    updater = _Updater(**options)
    updater.start(wait=wait)
    return updater
