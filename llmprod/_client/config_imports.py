"""Objects named by import path in a config file: hooks, callbacks, classifiers, detectors.

A value is ``"package.module:attribute"`` (or ``"package.module.attribute"``), or a table
``{ use = "package.module:Factory", with = { ... } }`` whose ``with`` are keyword
arguments. A class is instantiated (with ``with``, or none); a function given ``with``
is called with them and its result used; anything else is used as it is.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from .._core.errors import ConfigError


def import_object(spec: str, path: str) -> Any:
    """The object ``spec`` names (``module:attr`` or ``module.attr``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"expected an import path like 'package.module:name', got {spec!r}", path=path)
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"expected an import path like 'package.module:name', got {spec!r}", path=path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", path=path) from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}", path=path) from None
    return target


def build_object(raw: Any, path: str) -> Any:
    """An import path, or a ``{use, with}`` table, as the object it names or builds."""
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"use", "with"}
        if unknown or "use" not in raw:
            raise ConfigError("expected a table with 'use' (an import path) and optional 'with'", path=path)
        options = raw.get("with", {})
        if not isinstance(options, Mapping):
            raise ConfigError("expected a table of keyword arguments", path=f"{path}.with")
        target = import_object(raw["use"], f"{path}.use")
        return _call(target, dict(options), path)
    target = import_object(raw, path)
    if isinstance(target, type):
        return _call(target, {}, path)
    return target


def _call(target: Any, options: dict[str, Any], path: str) -> Any:
    if not callable(target):
        raise ConfigError(f"{target!r} cannot be called with arguments", path=path)
    if not options and not isinstance(target, type):
        return target
    try:
        return target(**options)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=path) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"building {getattr(target, '__name__', target)!r} failed: {exc}", path=path) from None


def build_callable(raw: Any, path: str) -> Any:
    """Like :func:`build_object`, and the result must be callable (a hook, a callback)."""
    value = build_object(raw, path)
    if not callable(value):
        raise ConfigError(f"{raw!r} is not callable", path=path)
    return value
