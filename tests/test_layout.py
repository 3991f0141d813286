"""The package's layout: folders by concern, no import circles, a small public face."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import llmprod

PACKAGE = Path(llmprod.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """Every llmprod module ``name`` imports: at module level, in functions, or only for
    type checkers (all of them make a circle a reader has to untangle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            submodules = {f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES}
            found.update(submodules)
            if len(submodules) < len(node.names):  # names from the module itself, not only its submodules
                found.add(module)
    return {m for m in found if m in MODULES and m != name}


def _circles() -> list[list[str]]:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for name in sorted(graph):
        if name not in index:
            visit(name)
    return circles


def test_no_import_circles() -> None:
    assert _circles() == []


def test_no_domain_logic_in_root_level_private_modules() -> None:
    root = sorted(p.name for p in PACKAGE.glob("_*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert root == ["_lazy.py"]  # the lazy-export helper of the public packages; nothing else


def test_folders_by_concern() -> None:
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert folders == [
        "_client",
        "_core",
        "_safety",
        "_wrap",
        "backends",
        "cli",
        "cost",
        "layers",
        "pii",
        "telemetry",
        "testing",
    ]


def test_the_top_level_holds_the_daily_names_only() -> None:
    assert len(llmprod.__all__) <= 45
    for name in ("AsyncClient", "Client", "wrap", "Retry", "Cache", "OpenAICompatible", "RateLimitedError"):
        assert name in llmprod.__all__
    for name in ("CallFinished", "Ledger", "prices", "ServerError", "ChatRequest"):
        assert name not in llmprod.__all__
    for name in llmprod.__all__:
        assert getattr(llmprod, name) is not None


@pytest.mark.parametrize(
    ("name", "home"),
    [("CallFinished", "events"), ("ServerError", "errors"), ("prices", "cost"), ("ChatRequest", "backends")],
)
def test_names_that_moved_still_import_with_a_warning(name: str, home: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"llmprod.{home}.{name}"):
        old = getattr(llmprod, name)
    assert old is getattr(getattr(llmprod, home), name)


def test_every_public_module_lists_what_it_exports() -> None:
    for module in (llmprod.events, llmprod.errors, llmprod.cost, llmprod.backends, llmprod.layers, llmprod.telemetry):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert getattr(module, name) is not None


def test_import_llmprod_loads_nothing_optional() -> None:
    code = (
        "import sys, llmprod\n"
        "heavy = ('httpx', 'asyncio', 'opentelemetry', 'aiohttp', 'tiktoken', 'redis', 'phonenumbers')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
