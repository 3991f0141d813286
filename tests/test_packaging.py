"""Packaging: the wheel holds the data files and the CLI, installs alone into a clean venv,
and its demo and smoke test run from there; CI runs the same as `nox -s package`."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from check_dist import wheel_problems  # noqa: E402


def test_ci_runs_the_package_session() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert re.search(r"def package\(session", noxfile)
    ci = (ROOT / ".ci" / "run").read_text()
    nox_line = next(line for line in ci.splitlines() if "bin/nox " in line)
    assert "package" in nox_line.split()


def test_docs_install_from_the_wheel_until_there_is_a_release() -> None:
    bare = re.compile(r"pip install (.* )?(llmprod\b|'llmprod\[|\"llmprod\[)")
    pages = [*ROOT.joinpath("docs").rglob("*.md"), ROOT / "README.md"]
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in pages
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert not offenders, offenders
    assert "dist/llmprod-0.1.0-py3-none-any.whl" in (ROOT / "docs" / "getting-started.md").read_text()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("needs hatchling (the test extra) to build the wheel offline")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("llmprod-*.whl")
    return built


def test_the_wheel_holds_the_package_data_and_the_cli(wheel: Path) -> None:
    assert wheel_problems(wheel) == []


def test_the_installed_wheel_runs_its_demo_and_smoke_test(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv with the wheel alone (no source tree on the path). Its dependencies come
    from this environment's site-packages on PYTHONPATH, so the test needs no network."""
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    deps = [p for p in sys.path if p.endswith("site-packages")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(deps)}
    run = {"cwd": tmp_path, "env": env, "capture_output": True, "text": True, "timeout": 300}
    version = subprocess.run([target / "bin" / "llmprod", "--version"], **run)  # type: ignore[call-overload]
    assert version.returncode == 0 and version.stdout.startswith("llmprod 0.1.0")
    demo = subprocess.run([target / "bin" / "llmprod", "demo", "--requests", "60", "--speed", "0.1"], **run)  # type: ignore[call-overload]
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "llmprod demo report" in demo.stdout
    smoke = subprocess.run([python, ROOT / "scripts" / "smoke_installed.py"], **run)  # type: ignore[call-overload]
    assert smoke.returncode == 0, smoke.stderr[-2000:]
    assert f"from {target}" in smoke.stdout
