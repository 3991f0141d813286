"""Prices: the snapshot from genai-prices, lookups, exact costs, user rows, LiteLLM files."""

from __future__ import annotations

import http.server
import json
import logging
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

import llmprod
from llmprod._core.models import Usage
from llmprod.cost._price_text import close_names, describe_price
from llmprod.cost._prices import Price, PriceTable, candidates, cost, worst_case

ROOT = Path(__file__).parents[2]
FIXTURES = Path(__file__).parent / "fixtures"

# (model, usage, expected USD) worked by hand from the genai-prices 0.2.3 rows in llmprod/data/prices.toml
KNOWN_CALLS = [
    # gpt-4o: $2.50 in, $1.25 cached in, $10 out per 1M. 600 uncached + 400 cached + 500 out.
    ("gpt-4o", Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=400), 0.007),
    # a dated snapshot of gpt-4o-mini: $0.15 / $0.075 / $0.60. 1M uncached in, 1M out.
    ("gpt-4o-mini-2024-07-18", Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000), 0.75),
    # gpt-5-mini: $0.25 / $0.025 / $2. 2,000 uncached + 8,000 cached + 1,000 out = 0.0005 + 0.0002 + 0.002.
    ("gpt-5-mini", Usage(prompt_tokens=10_000, completion_tokens=1_000, cached_tokens=8_000), 0.0027),
    # claude-sonnet-4-5 dated: $3 in, $3.75 cache write, $0.30 cache read, $15 out (base tier).
    # 1,000 uncached + 2,000 read + 4,000 written + 300 out = 0.003 + 0.0006 + 0.015 + 0.0045.
    (
        "claude-sonnet-4-5-20250929",
        Usage(prompt_tokens=7_000, completion_tokens=300, cached_tokens=2_000, cache_write_tokens=4_000),
        0.0231,
    ),
    # gpt-4 has no cached price: cached tokens cost full input ($30), output $60.
    ("gpt-4-0613", Usage(prompt_tokens=1_000, completion_tokens=1_000, cached_tokens=1_000), 0.09),
    # o3: $2 in, $0.50 cached, $8 out; all 1,000 prompt tokens cached.
    ("o3", Usage(prompt_tokens=1_000, completion_tokens=1_000, cached_tokens=1_000), 0.0085),
    # Cohere dated alias, provider-prefixed: $0.15 / $0.60.
    ("cohere/command-r-08-2024", Usage(prompt_tokens=2_000, completion_tokens=1_000), 0.0009),
    # claude-3-5-haiku resolves by Anthropic's name prefix (not Google's Vertex row): $0.80 / $4.
    ("claude-3-5-haiku-20241022", Usage(prompt_tokens=1_000_000), 0.8),
    ("mistral-large-2411", Usage(prompt_tokens=0, completion_tokens=0), 0.0),
]


@pytest.mark.parametrize(("model", "usage", "expected"), KNOWN_CALLS)
def test_known_calls_cost_exactly(model: str, usage: Usage, expected: float) -> None:
    table = PriceTable()
    assert table.cost(usage, model) == expected  # exact: decimal arithmetic, one rounding


def _snapshot() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(resources.files("llmprod").joinpath("data/prices.toml").read_text("utf-8"))


def test_the_snapshot_records_its_genai_prices_version_and_every_row_its_source() -> None:
    data = _snapshot()
    version = data["snapshot"]["genai_prices"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert data["snapshot"]["generator"] == "scripts/update_prices.py"
    rows = data["model"]
    assert len(rows) > 300
    assert {"openai", "anthropic", "cohere", "mistral", "google"} <= {row["provider"] for row in rows}
    for row in rows:
        assert row["source"] == f"genai-prices {version} (bundled)", row["name"]
        assert row["url"].startswith("https://"), row["name"]
        assert row["read"] == data["snapshot"]["as_of"]
        assert row["output"] >= 0 and row["input"] >= 0
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["llmprod"]  # data rides along
    assert "genai-prices" in " ".join(pyproject["project"]["optional-dependencies"]["prices"])


def test_the_snapshot_is_what_the_script_writes_from_that_genai_prices_version(tmp_path: Path) -> None:
    pytest.importorskip("genai_prices")
    from importlib.metadata import version

    recorded = _snapshot()["snapshot"]
    if version("genai-prices") != recorded["genai_prices"]:
        pytest.skip(f"the snapshot is from genai-prices {recorded['genai_prices']}, not the installed one")
    out = tmp_path / "prices.toml"
    script = [sys.executable, str(ROOT / "scripts" / "update_prices.py")]
    done = subprocess.run([*script, "--as-of", recorded["as_of"], "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bundled = resources.files("llmprod").joinpath("data/prices.toml").read_text("utf-8")
    assert out.read_text("utf-8") == bundled
    assert subprocess.run([*script, "--check"], capture_output=True).returncode == 0
    out.write_text(bundled.replace("input = 2.5\n", "input = 2.4\n", 1))
    assert subprocess.run([*script, "--check", "--out", str(out)], capture_output=True).returncode == 1


def test_snapshot_and_prefix_names_resolve_to_their_base_model() -> None:
    assert candidates("openai/gpt-4o-2024-08-06") == ["openai/gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "gpt-4o"]
    table = PriceTable()
    for name in ("gpt-4o-2024-08-06", "gpt-4-0613", "claude-opus-4-20250514", "command-r7b-12-2024", "GPT-4o"):
        assert table.find(name) is not None, name
    assert table.find("gpt-4o-mini").input == 0.15  # type: ignore[union-attr]  # not gpt-4o's
    # A name served by several providers: the bare name is the model maker's, prefixed names each provider's.
    anthropic, vertex = table.find("claude-3-5-sonnet-20241022"), table.find("google/claude-3-5-sonnet")
    assert anthropic is not None and anthropic.provider == "anthropic"
    assert vertex is not None and vertex.provider == "google"
    assert table.find("groq/llama-3.1-8b-instant").provider == "groq"  # type: ignore[union-attr]


def test_a_resolved_name_is_remembered_until_the_rows_change() -> None:
    table = PriceTable()
    first = table.find("gpt-4o-2024-08-06")
    assert first is not None and first.model == "gpt-4o"
    assert table.find("gpt-4o-2024-08-06") is first
    table.register("gpt-4o-2024-08-06", input=9.0, output=9.0)  # a user row for the exact snapshot name
    assert table.find("gpt-4o-2024-08-06").input == 9.0  # type: ignore[union-attr]


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


def test_users_register_and_override_prices_and_each_row_says_its_source() -> None:
    table = PriceTable()
    mine = table.register("my-model", input=1.0, output=2.0, cached_input=0.5, aliases=["my-model-v2"])
    assert mine.source == "llmprod.cost.prices.register"
    assert (
        table.cost(Usage(prompt_tokens=1_000_000, completion_tokens=500_000, cached_tokens=500_000), "my-model-v2")
        == 1.75
    )
    table.register("gpt-4o", input=1.0, output=1.0, source="our contract, 2026")  # a negotiated price
    assert table.cost(Usage(prompt_tokens=1_000_000), "gpt-4o-2024-11-20") == 1.0
    assert table.find("gpt-4o").source == "our contract, 2026"  # type: ignore[union-attr]
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(llmprod.ConfigError):
            table.register("bad", input=bad, output=1.0)
    with pytest.raises(llmprod.ConfigError, match="unknown price fields"):
        table.register("bad", input=1.0, output=1.0, inptu_cached=1.0)


def test_users_load_a_prices_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[[model]]\nname = "in-house-70b"\ninput = 0.2\noutput = 0.4\ncontext_window = 8192\n')
    table = PriceTable()
    assert table.load(path) == 1
    assert table.cost(Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000), "in-house-70b") == pytest.approx(0.6)
    assert table.find("in-house-70b").source == "file prices.toml"  # type: ignore[union-attr]
    path.write_text("[[model]]\nname = 3\n")
    with pytest.raises(llmprod.ConfigError):
        table.load(path)
    path.write_text('[[model]]\nname = "x"\ninput = nan\noutput = 1\n')
    with pytest.raises(llmprod.ConfigError, match="number >= 0"):
        table.load(path)
    path.write_bytes(b'[[model]]\nname = "caf\xe9"\ninput = 1\noutput = 1\n')  # Latin-1, not UTF-8
    with pytest.raises(llmprod.ConfigError, match="not UTF-8"):
        table.load(path)


def test_a_litellm_prices_file_loads_as_is() -> None:
    table = PriceTable()
    assert table.load(FIXTURES / "litellm_prices.json") == 4  # sample_spec and a per-pixel image model skipped
    mini = table.find("team-gpt-mini")
    assert mini is not None
    assert (mini.input, mini.cached_input, mini.output) == (0.15, 0.075, 0.6)  # per token -> per million
    assert (mini.context_window, mini.max_output, mini.provider) == (128_000, 16_384, "openai")
    assert mini.source == "LiteLLM prices file litellm_prices.json"
    claude = table.find("bedrock/team-claude")
    assert claude is not None and (claude.cache_write, claude.cached_input) == (3.75, 0.3)
    # 1,000 uncached + 2,000 read + 4,000 written + 300 out = 0.003 + 0.0006 + 0.015 + 0.0045
    usage = Usage(prompt_tokens=7_000, completion_tokens=300, cached_tokens=2_000, cache_write_tokens=4_000)
    assert table.cost(usage, "bedrock/team-claude") == 0.0231
    assert table.find("team-legacy").context_window == 4096  # type: ignore[union-attr]  # max_tokens
    assert table.find("team-image-model") is None


def test_a_bad_litellm_entry_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "model_prices_and_context_window.json"
    path.write_text(json.dumps({"m": {"input_cost_per_token": "cheap", "output_cost_per_token": 0}}))
    with pytest.raises(llmprod.ConfigError, match=r"\['m'\]\.input_cost_per_token"):
        PriceTable().load(path)


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
    assert (price.context_window, price.provider, price.cached_input) == (128_000, "openai", None)


def test_text_for_the_cli_and_close_names() -> None:
    one = describe_price(PriceTable().find("claude-sonnet-4-5-20250929"))  # type: ignore[arg-type]
    assert one.splitlines()[1].split()[:5] == ["claude-sonnet-4-5", "3", "0.3", "3.75", "15"]
    assert "source: genai-prices" in one and "pricing page: https://www.anthropic.com/pricing" in one
    assert "rises to" in one  # the tiered price above 200K prompt tokens is noted
    assert "gpt-4o-mini" in close_names("gpt4o-mini", PriceTable())
    assert any(n.startswith("claude") for n in close_names("claude", PriceTable()))


def test_import_llmprod_and_a_lookup_do_not_import_genai_prices() -> None:
    code = (
        "import sys, llmprod; assert llmprod.cost.prices.find('gpt-4o') is not None; "
        "assert 'genai_prices' not in sys.modules and 'pydantic' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.fixture
def genai_prices() -> Iterator[object]:
    module = pytest.importorskip("genai_prices")
    from genai_prices import data_snapshot

    yield module
    data_snapshot.set_custom_snapshot(None)  # the updater's data is process-wide in genai-prices


def test_the_installed_genai_prices_replaces_the_builtin_rows(genai_prices: object) -> None:
    from importlib.metadata import version

    table = PriceTable()
    table.register("my-model", input=1.0, output=1.0)
    assert table.use_genai_prices() is None
    assert table.origin == f"genai-prices {version('genai-prices')}"
    assert table.find("gpt-4o").source.startswith(f"genai-prices {version('genai-prices')}")  # type: ignore[union-attr]
    assert table.find("my-model") is not None  # user rows survive


class _PricesServer(http.server.BaseHTTPRequestHandler):
    """Serves a genai-prices v2 data file (a list of providers) on loopback."""

    body = json.dumps(
        [
            {
                "id": "openai",
                "name": "OpenAI",
                "api_pattern": r"https://api\.openai\.com",
                "pricing_urls": ["https://openai.com/api/pricing/"],
                "models": [
                    {
                        "id": "llmprod-fetched-model",
                        "match": {"or": [{"equals": "llmprod-fetched-model"}, {"starts_with": "llmprod-fetched-"}]},
                        "context_window": 1000,
                        "prices": {"input_mtok": 1.5, "output_mtok": 3, "cache_read_mtok": 0.5},
                    }
                ],
            }
        ]
    ).encode()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def test_genai_prices_updater_swaps_in_what_it_fetches(genai_prices: object) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PricesServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/data.json"
    table = PriceTable()
    updater = table.use_genai_prices(update=True, url=url)
    try:
        assert updater.wait(timeout=30)
        fetched = table.find("llmprod-fetched-model-2")  # by its starts_with rule
        assert fetched is not None and (fetched.input, fetched.cached_input, fetched.output) == (1.5, 0.5, 3.0)
        assert fetched.source is not None and url in fetched.source
        assert table.find("gpt-4o") is None  # the fetched data is the whole table now
    finally:
        updater.stop()
        server.shutdown()
        server.server_close()
