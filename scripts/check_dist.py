"""Check what the built wheel and sdist hold: the package, its data files, the CLI entry point.

python scripts/check_dist.py dist/llmprod-0.1.0-py3-none-any.whl dist/llmprod-0.1.0.tar.gz
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

WHEEL_NEEDS = ("llmprod/__init__.py", "llmprod/py.typed", "llmprod/data/prices.toml", "llmprod/cli/_main.py")
SDIST_NEEDS = ("pyproject.toml", "README.md", *WHEEL_NEEDS)


def wheel_problems(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        problems = [f"{path.name} lacks {n}" for n in WHEEL_NEEDS if n not in names]
        entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        if not entry_points or "llmprod = llmprod.cli:main" not in wheel.read(entry_points[0]).decode():
            problems.append(f"{path.name} has no `llmprod` console script")
        problems += [f"{path.name} ships {n}" for n in names if n.startswith(("tests/", "bench/"))]
    return problems


def sdist_problems(path: Path) -> list[str]:
    with tarfile.open(path) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    return [f"{path.name} lacks {n}" for n in SDIST_NEEDS if n not in names]


def main(argv: list[str]) -> int:
    problems = []
    for arg in argv:
        path = Path(arg)
        problems += wheel_problems(path) if path.suffix == ".whl" else sdist_problems(path)
    for problem in problems:
        print(problem)
    if not problems:
        print("dist ok: " + ", ".join(Path(a).name for a in argv))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
