"""Smoke test of an installed llmprod: run it from outside the source tree, after
installing the wheel (``nox -s package`` does). Exits non-zero on any failure."""

from __future__ import annotations

import sys
from importlib import resources
from importlib.metadata import version
from pathlib import Path

import llmprod


def main() -> int:
    where = Path(llmprod.__file__).resolve()
    assert "site-packages" in where.parts, f"llmprod was imported from {where}, not from an installed wheel"
    package = resources.files("llmprod")
    for data in ("data/prices.toml", "py.typed"):
        assert package.joinpath(data).is_file(), f"{data} is missing from the installed package"
    price = llmprod.cost.prices.find("gpt-4o-mini-2024-07-18")
    assert price is not None and price.source is not None and price.source.startswith("genai-prices"), price
    fast = llmprod.backends.Latency(median=0.01, p99=0.02)
    with llmprod.Client(llmprod.Simulated("sim-smoke", latency=fast), retry=None) as client:
        answer = client.chat("hello from the wheel", max_tokens=8)
        assert answer.text and answer.cost is not None and answer.cost > 0
        assert client.costs().total.requests == 1
    print(f"llmprod {version('llmprod')} from {where.parent}: data files, prices and a call all work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
