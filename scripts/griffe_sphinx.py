"""A griffe extension for the docs build: the docstrings' Sphinx markup as Markdown.

The docstrings name other objects the Sphinx way (``:class:`ChatResponse```,
``:meth:`AsyncClient.chat```, ``:mod:`llmprod.events```); mkdocstrings reads Markdown and
would show those raw. After griffe has loaded ``llmprod``, each role is resolved from the
docstring's own scope (as Python would resolve the name there) and rewritten as an
autorefs link to the object's public entry: the first module in :data:`HOMES` that
exports it. A name with no public entry (a private module, a private member) is shown
as code without a link; a name that resolves to nothing is a warning, which fails the
strict build. A paragraph ending in ``::`` (a literal block follows) ends in ``:``. The
source docstrings stay as they are.

Configured in ``mkdocs.yml`` (``plugins.mkdocstrings...extensions``).
"""

from __future__ import annotations

import contextlib
import importlib
import re
from typing import Any

import griffe

# Where a name exported by several public modules has its full reference entry: the first
# of these that exports it (the others list it with a link; tests/test_reference.py checks
# that every link lands on a full entry). Every public module is here.
HOMES = (
    "llmprod.errors",
    "llmprod.events",
    "llmprod",
    "llmprod.backends",
    "llmprod.cost",
    "llmprod.layers",
    "llmprod.telemetry",
    "llmprod.pii",
    "llmprod.testing",
)

ROLE = re.compile(r":(?:py:)?(class|meth|func|mod|data|attr|exc|obj|const):`([^`]+)`")
TITLED = re.compile(r"^(.*?)\s*<([^<>]+)>$")
LITERAL = re.compile(r"(\S?)(\s*)::\n(?=\s*\n)")  # "Example::", "text ::" or a lone "::"
_logger = griffe.get_logger("griffe_sphinx")


def public_paths(package: griffe.Module) -> dict[str, str]:
    """Canonical path -> public path, for every public module and every name it exports."""
    found: dict[str, str] = {}
    public_modules = {package.path, *(f"{package.path}.{m}" for m in importlib.import_module("llmprod")._SUBMODULES)}
    if public_modules != set(HOMES):
        _logger.warning("HOMES lists %s; the public modules are %s", sorted(HOMES), sorted(public_modules))
    for module in HOMES:
        if module != package.path:  # the bare package name also titles the home page: left unlinked
            found.setdefault(module, module)
        owner = package if module == package.path else package[module.removeprefix(package.path + ".")]
        for name in importlib.import_module(module).__all__:
            member = owner[name]
            canonical = (member.final_target if member.is_alias else member).path
            found.setdefault(canonical, f"{module}.{name}")
    return found


class SphinxMarkup(griffe.Extension):
    """Rewrites the docstrings the reference shows: roles as cross-references, ``::`` as ``:``."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != "llmprod":
            return
        self.package = pkg
        self.public = public_paths(pkg)
        self.by_name: dict[str, set[str]] = {}  # short name -> canonical paths
        for path in self.public:
            self.by_name.setdefault(path.rsplit(".", 1)[-1], set()).add(path)
        self.shown = _shown(pkg, self.public)

    # griffe fires these for each object after on_package, and after the extensions listed
    # before this one (unpack_typeddict copies docstrings into chat's parameters there).
    def on_module(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        self.rewrite_docstring(mod)

    def on_class(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        self.rewrite_docstring(cls)

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        self.rewrite_docstring(func)

    def on_attribute(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        self.rewrite_docstring(attr)

    def rewrite_docstring(self, obj: griffe.Object) -> None:
        docstring = obj.docstring
        if not hasattr(self, "shown") or obj.path not in self.shown or docstring is None:
            return
        docstring.value = self.rewrite(docstring.value, obj)
        if "parsed" in docstring.__dict__:  # an extension parsed it already
            for section in docstring.parsed:
                _rewrite_section(section, lambda text: self.rewrite(text, obj))

    def rewrite(self, text: str, scope: griffe.Object) -> str:
        text = LITERAL.sub(lambda m: m.group(1) + (":" if m.group(1) and not m.group(2) else "") + "\n", text)
        return ROLE.sub(lambda m: self.link(m.group(1), m.group(2), scope), text)

    def link(self, role: str, target: str, scope: griffe.Object) -> str:
        title = None
        titled = TITLED.match(target)
        if titled:
            title, target = titled.group(1), titled.group(2)
        short = target.startswith("~")
        target = target.lstrip("~!.")
        if title is None:
            title = target.rsplit(".", 1)[-1] if short else target
            if role in ("meth", "func"):
                title += "()"
        canonical = self.canonical(target, scope)
        if canonical is None:
            _logger.warning("%s: cannot resolve the role target %r", scope.path, target)
            return f"`{title}`"
        public = self.public_path(canonical)
        return f"`{title}`" if public is None else f"[`{title}`][{public}]"

    def canonical(self, target: str, scope: griffe.Object) -> str | None:
        """The path where ``target``, as written in ``scope``'s docstring, is defined."""
        first, _, rest = target.partition(".")
        candidates = []
        with contextlib.suppress(griffe.NameResolutionError):
            candidates.append(".".join(filter(None, [scope.resolve(first), rest])))
        candidates.append(target)
        same_name = self.by_name.get(first, set())
        if not rest and len(same_name) == 1:  # a public name used where it is not imported
            candidates.extend(same_name)
        for candidate in candidates:
            if candidate.split(".")[0] != "llmprod":
                return candidate  # another package's object: shown as code
            try:
                obj = self.package.modules_collection[candidate]
                return str((obj.final_target if obj.is_alias else obj).path)
            except (KeyError, griffe.AliasResolutionError):
                continue
        return None

    def public_path(self, canonical: str) -> str | None:
        """The reference entry that shows ``canonical``: its own, or the nearest shown parent's."""
        parts = canonical.split(".")
        for cut in range(len(parts), 0, -1):
            home = self.public.get(".".join(parts[:cut]))
            if home is None:
                continue
            obj = self.package.modules_collection[".".join(parts[:cut])]
            path = [home]
            for name in parts[cut:]:
                member = obj.members.get(name)
                if member is None or not _is_shown(member):
                    # an undocumented method: its class's entry; a private module: none
                    return None if obj.is_module else ".".join(path)
                obj = member
                path.append(name)
            return ".".join(path)
        return None  # only reachable through private modules


def _is_shown(obj: griffe.Object | griffe.Alias) -> bool:
    """Whether mkdocstrings renders this member (its default filters, no undocumented members)."""
    if (obj.name.startswith("_") and not obj.name.endswith("__")) or obj.name == "__init__":
        return False
    return bool(obj.has_docstrings if obj.is_class or obj.is_module else obj.has_docstring)


def _shown(package: griffe.Module, public: dict[str, str]) -> set[str]:
    """Every object whose docstring the reference shows: the public ones and their members."""
    found: dict[str, griffe.Object] = {}

    def visit(obj: griffe.Object) -> None:
        if obj.path in found:
            return
        found[obj.path] = obj
        for member in obj.members.values():
            merged = obj.is_class and member.name == "__init__"  # shown in the class's entry
            if not member.is_alias and not member.is_module and (_is_shown(member) or merged):
                visit(member)  # type: ignore[arg-type]

    for path in [package.path, *public]:
        obj = package.modules_collection[path]
        visit(obj.final_target if obj.is_alias else obj)  # type: ignore[arg-type]
    return set(found)


def _rewrite_section(section: griffe.DocstringSection, rewrite: Any) -> None:
    value = section.value
    if isinstance(value, str):
        section.value = rewrite(value)
        return
    for item in value if isinstance(value, list) else [value]:
        if isinstance(getattr(item, "description", None), str):
            item.description = rewrite(item.description)
