"""A griffe extension for the docs build: every dataclass lists its fields.

The config objects (``Retry``, ``Cache``, ``Deployment``, ...), the events and the data
classes are dataclasses; their fields are the settings. This adds a "Fields" table to
each one's reference entry: name, type and default, read from the class itself (the
``__init__`` griffe's dataclasses support derives from the fields), so the reference
cannot drift from the code. A field's own docstring, where it has one, is its
description; a field typed with a module's alias (``mode: PIIMode``) shows what the alias
stands for (``Literal["mask", "pseudonymize"]``).

Configured in ``mkdocs.yml`` (``plugins.mkdocstrings...extensions``).
"""

from __future__ import annotations

from typing import Any

import griffe


class DataclassFields(griffe.Extension):
    """Appends a "Fields:" section to the docstring of every dataclass in ``llmprod``."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != "llmprod":
            return
        for cls in _classes(pkg):
            if "dataclass" in cls.labels and "__init__" in cls.members:
                _add_fields(cls)


def _add_fields(cls: griffe.Class) -> None:
    init = cls.members["__init__"]
    rows = []
    for parameter in init.parameters:  # type: ignore[union-attr]
        if parameter.name == "self":
            continue
        attribute = cls.members.get(parameter.name)
        docstring = attribute.docstring if attribute is not None and not attribute.is_alias else None
        rows.append(
            griffe.DocstringParameter(
                name=parameter.name,
                annotation=_expand(parameter.annotation, cls),
                description=docstring.value if docstring is not None else "",
                value=parameter.default,
            )
        )
    if not rows:
        return
    if cls.docstring is None:
        cls.docstring = griffe.Docstring("", parent=cls)
    cls.docstring.parsed.append(griffe.DocstringSectionParameters(rows, title="Fields:"))


def _expand(annotation: str | griffe.Expr | None, cls: griffe.Class) -> str | griffe.Expr | None:
    """``annotation`` with each module-level type alias in it replaced by its value."""
    if isinstance(annotation, griffe.ExprBinOp):
        return griffe.ExprBinOp(_expand(annotation.left, cls), annotation.operator, _expand(annotation.right, cls))
    if isinstance(annotation, griffe.ExprName):
        try:
            target = cls.modules_collection[annotation.canonical_path]
        except (KeyError, griffe.AliasResolutionError):
            return annotation
        if target.is_attribute and target.parent is not None and target.parent.is_module:
            value = target.value  # type: ignore[union-attr]
            if isinstance(value, griffe.ExprSubscript) and target.docstring is None:
                return value
    return annotation


def _classes(obj: griffe.Object) -> list[griffe.Class]:
    found = [obj] if isinstance(obj, griffe.Class) else []
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_classes(member))  # type: ignore[arg-type]
    return found
