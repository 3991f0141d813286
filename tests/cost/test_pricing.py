"""Prices: the shipped table, lookups, exact costs, unknown models, user overrides."""

from __future__ import annotations

import logging
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import llmprod
from llmprod._core.models import Usage
from llmprod.cost._prices import Price, PriceTable, candidates, cost, worst_case

# (model, usage, expected USD) worked by hand from the rows in llmprod/data/prices.toml
KNOWN_CALLS = [
    # gpt-4o: $2.50 in, $1.25 cached in, $10 out per 1M. 600 uncached + 400 cached + 500 out.
    ("gpt-4o", Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=400), 0.007),
    # a dated snapshot of gpt-4o-mini: $0.15 / $0.075 / $0.60. 1M uncached in, 1M out.
    ("gpt-4o-mini-2024-07-18", Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000), 0.75),
    # gpt-5-mini: $0.25 / $0.025 / $2. 2,000 uncached + 8,000 cached + 1,000 out = 0.0005 + 0.0002 + 0.002.
    ("gpt-5-mini", Usage(prompt_tokens=10_000, completion_tokens=1_000, cached_tokens=8_000), 0.0027),
    # claude-sonnet-4-5 dated: $3 in, $3.75 cache write, $0.30 cache read, $15 out.
    # 1,000 uncached + 2,000 read + 4,000 written + 300 out = 0.003 + 0.0006 + 0.015 + 0.0045.
    (
        "claude-sonnet-4-5-20250929",
        Usage(prompt_tokens=7_000, completion_tokens=300, cached_tokens=2_000, cache_write_tokens=4_000),
        0.0231,
    ),
    # o3 has no cached price in the table: cached tokens cost full input ($2), output $8.
    ("o3", Usage(prompt_tokens=1_000, completion_tokens=1_000, cached_tokens=1_000), 0.01),
    # Cohere dated alias, provider-prefixed: $0.15 / $0.60.
    ("cohere/command-r-08-2024", Usage(prompt_tokens=2_000, completion_tokens=1_000), 0.0009),
    ("mistral-large-2411", Usage(prompt_tokens=0, completion_tokens=0), 0.0),
]


@pytest.mark.parametrize(("model", "usage", "expected"), KNOWN_CALLS)
def test_known_calls_cost_exactly(model: str, usage: Usage, expected: float) -> None:
    table = PriceTable()
    assert table.cost(usage, model) == expected  # exact: decimal arithmetic, one rounding


def test_the_shipped_file_is_package_data_with_a_source_and_date_on_every_row() -> None:
    text = resources.files("llmprod").joinpath("data/prices.toml").read_text("utf-8")
    rows = tomllib.loads(text)["model"]
    providers = {row["provider"] for row in rows}
    assert {"openai", "anthropic", "cohere", "mistral"} <= providers
    for row in rows:
        assert row["source"].startswith("https://"), row["name"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["read"]), row["name"]
        assert row["output"] >= 0 and row["input"] >= 0
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["llmprod"]  # data rides along


def test_snapshot_and_prefix_names_resolve_to_their_base_model() -> None:
    assert candidates("openai/gpt-4o-2024-08-06") == ["openai/gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "gpt-4o"]
    table = PriceTable()
    for name in ("gpt-4o-2024-08-06", "gpt-4-0613", "claude-opus-4-20250514", "command-r7b-12-2024"):
        assert table.find(name) is not None, name
    assert table.find("gpt-4o-mini").input == 0.15  # type: ignore[union-attr]  # not gpt-4o's


def test_unknown_model_costs_none_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable()
    with caplog.at_level(logging.WARNING, logger="llmprod"):
        assert table.cost(Usage(prompt_tokens=10, completion_tokens=10), "my-private-model") is None
        assert table.cost(Usage(prompt_tokens=99), "my-private-model") is None
    assert [r.getMessage() for r in caplog.records].count(
        "llmprod: no price for model 'my-private-model'; its calls cost None (llmprod.cost.prices.register adds one)"
    ) == 1


def test_strict_mode_raises_for_an_unknown_model() -> None:
    table = PriceTable(strict=True)
    with pytest.raises(llmprod.ConfigError, match="no price for model 'my-private-model'"):
        table.cost(Usage(prompt_tokens=1), "my-private-model")


def test_users_register_and_override_prices() -> None:
    table = PriceTable()
    table.register("my-model", input=1.0, output=2.0, cached_input=0.5, aliases=["my-model-v2"])
    assert (
        table.cost(Usage(prompt_tokens=1_000_000, completion_tokens=500_000, cached_tokens=500_000), "my-model-v2")
        == 1.75
    )
    table.register("gpt-4o", input=1.0, output=1.0)  # a negotiated price beats the shipped one
    assert table.cost(Usage(prompt_tokens=1_000_000), "gpt-4o-2024-11-20") == 1.0
    with pytest.raises(llmprod.ConfigError):
        table.register("bad", input=-1.0, output=1.0)
    with pytest.raises(llmprod.ConfigError, match="unknown price fields"):
        table.register("bad", input=1.0, output=1.0, inptu_cached=1.0)


def test_users_load_a_prices_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[[model]]\nname = "in-house-70b"\ninput = 0.2\noutput = 0.4\ncontext_window = 8192\n')
    table = PriceTable()
    assert table.load(path) == 1
    assert table.cost(Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000), "in-house-70b") == pytest.approx(0.6)
    path.write_text("[[model]]\nname = 3\n")
    with pytest.raises(llmprod.ConfigError):
        table.load(path)


def test_worst_case_is_every_prompt_token_uncached_plus_the_output_limit() -> None:
    price = Price(model="m", input=1.0, output=4.0, cached_input=0.1, context_window=1000)
    assert worst_case(100, 50, price) == cost(Usage(prompt_tokens=100, completion_tokens=50), price) == 0.0003
    assert price.output_limit(prompt_tokens=100) == 900  # no max_output: what the window leaves
    assert Price(model="m", input=1, output=1, max_output=16).output_limit(100) == 16


def test_the_process_wide_table_is_public() -> None:
    assert isinstance(llmprod.cost.prices, PriceTable)
    assert llmprod.cost.prices.find("gpt-4.1") is not None


def test_a_new_price_for_a_known_model_keeps_its_limits() -> None:
    table = PriceTable()
    price = table.register("gpt-4o", input=2.0, output=8.0)
    assert (price.context_window, price.max_output, price.cached_input) == (128_000, 16_384, None)


def test_format_prices_for_the_cli() -> None:
    from llmprod.cost._prices import format_prices

    everything = format_prices()
    assert "gpt-4o-mini" in everything and "claude-haiku-4-5" in everything and "command-r" in everything
    one = format_prices("claude-sonnet-4-5-20250929")
    assert one.splitlines()[1].split()[:5] == ["claude-sonnet-4-5", "3", "0.3", "3.75", "15"]
    assert "source: https://platform.claude.com/" in one and "read 2026-11-27" in one
    assert format_prices("no-such-model") == ""
