"""Sessions: tests (all extras / no extras), lint, typecheck, examples, docs, bench.

nox -s tests          # both test sessions
nox -s lint typecheck
nox -s bench          # prints figures; not run in CI
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "examples", "docs"]

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
def ray(session: nox.Session) -> None:
    """llmprod on Ray Serve, on a local Ray instance (CPU): the test and the example.

    Not in `all`: ray[serve] adds about 320 MB and 29 packages to an environment.
    """
    session.install("-e", ".[test,ray,openai]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_ray_serve.py", *session.posargs, env=ENV)
    session.run("python", str(ROOT / "examples" / "ray_serve_app.py"), env=ENV)


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
    session.install("-e", ".[all]", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.25")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: print tables of figures (not timed asserts), and write JSON to bench-results/."""
    session.install("-e", ".[all,bench,transformers]", "torch==2.13.0")  # bench/engine.py runs the engine
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    scripts = session.posargs or [str(p) for p in sorted((ROOT / "bench").glob("*.py")) if not p.name.startswith("_")]
    for script in scripts:
        session.run("python", script, env={**ENV, "LLMPROD_BENCH_OUT": str(out)})
