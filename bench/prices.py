"""Price lookups: what ``llmprod.cost.prices.find`` costs on the call path, against a plain dict.

    python bench/prices.py          # figures on stdout; JSON in $LLMPROD_BENCH_OUT/prices.json

A name is resolved once (exact, prefix-stripped, snapshot-stripped, lower case, name
prefix) and remembered; every later lookup of it is one dict hit. Baseline in the same
run: ``dict.get`` on a dict of the same rows. Also: reading the bundled snapshot (once
per process, when a client is built), against ``json.loads`` of the same rows.
"""

from __future__ import annotations

import json
import os
import timeit
import tomllib
from importlib import resources
from pathlib import Path

from llmprod.cost._prices import PriceTable

NAMES = {
    "exact": "gpt-4o-mini",
    "dated snapshot": "gpt-4o-mini-2024-07-18",
    "provider prefix": "openai/gpt-4o-mini",
    "name prefix": "claude-3-5-haiku-20241022",
    "unknown": "my-private-model",
}
N = 200_000


def per_call_ns(fn: object) -> float:
    timer = timeit.Timer(fn)  # type: ignore[arg-type]
    return min(timer.repeat(repeat=5, number=N)) / N * 1e9


def main() -> None:
    table = PriceTable()
    plain = {p.model: p for p in table.models()}
    base = per_call_ns(lambda: plain.get("gpt-4o-mini"))
    results: dict[str, float] = {"dict.get (baseline)": base}
    for label, name in NAMES.items():
        table.find(name)  # resolved once, as the first call of a model does
        results[f"find, {label}"] = per_call_ns(lambda name=name: table.find(name))
    print(f"{'lookup':<28} {'ns':>8} {'x dict.get':>11}")
    for label, ns in results.items():
        print(f"{label:<28} {ns:8.1f} {ns / base:11.2f}")
    text = resources.files("llmprod").joinpath("data/prices.toml").read_text("utf-8")
    as_json = json.dumps(tomllib.loads(text))
    toml_s = min(timeit.repeat(lambda: tomllib.loads(text), repeat=5, number=3)) / 3
    json_s = min(timeit.repeat(lambda: json.loads(as_json), repeat=5, number=3)) / 3
    load_s = min(timeit.repeat(lambda: PriceTable().find("gpt-4o"), repeat=5, number=3)) / 3
    print(f"\nsnapshot: {len(table.models())} models; read once per process")
    print(f"  json.loads of the rows (baseline) {json_s * 1000:7.2f} ms  1.00")
    print(f"  tomllib.loads of the snapshot     {toml_s * 1000:7.2f} ms  {toml_s / json_s:5.2f}")
    print(f"  PriceTable first lookup (all)     {load_s * 1000:7.2f} ms  {load_s / json_s:5.2f}")
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out, "prices.json").write_text(json.dumps({"lookup_ns": results, "load_ms": load_s * 1000}, indent=2))


if __name__ == "__main__":
    main()
