"""Lazy public names, listed once.

A public package lists its names once, as ``from .module import Name as Name`` lines
under ``if TYPE_CHECKING:`` (type checkers and editors read those). At run time no
module behind them is imported until a name is used: :func:`exports` reads the same
lines from the package's source and imports a name's module when it is first asked
for. So ``import llmprod`` stays fast, and the list cannot drift from what is typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def exports(
    package: str, source: str, namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names are listed under
    ``if TYPE_CHECKING:``; sets its ``__all__``."""
    with open(source, encoding="utf-8") as file:
        homes = typed_imports(package, file.read())
    namespace["__all__"] = sorted(homes)

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        import importlib  # not at import time: ``import llmprod`` pays for nothing it does not use

        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*homes, *(k for k in namespace if not k.startswith("_"))})

    return __getattr__, __dir__


def typed_imports(package: str, text: str) -> dict[str, str]:
    """Name -> module of every ``from M import Name as Name`` under ``if TYPE_CHECKING:``.

    Read with one regular expression, not ``ast``: importing and running a parser would
    cost ``import llmprod`` more than everything else it does.
    """
    block = text.partition("\nif TYPE_CHECKING:\n")[2]
    homes: dict[str, str] = {}
    for dots, module, name, alias in _IMPORT.findall(block.split("\n\n", 1)[0]):
        if name == alias:  # `import X as X`: a public re-export
            base = package.split(".")
            if dots:
                base = base[: len(base) - (len(dots) - 1)]
                homes[name] = ".".join([*base, module] if module else base)
            else:
                homes[name] = module
    return homes


_IMPORT = re.compile(r"^    from (\.*)([\w.]*) import (\w+) as (\w+)$", re.M)
