"""Where each key of a config file is: key path (``deployments[1].model``) -> line number.

tomllib and json give values without positions, so errors could name a key but not a
line. This scanner walks the text once, following tables, inline tables and arrays, and
records the line on which each key and each array element starts. It reads TOML and
JSON (the same walk: ``=`` or ``:``, bare or quoted keys); YAML positions come from
PyYAML's own node marks. A text it cannot follow gives the lines found so far: the
parser has already accepted or rejected the file, so this is never the judge.
"""

from __future__ import annotations

import bisect
from typing import Any


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.starts = [0] + [k + 1 for k, c in enumerate(text) if c == "\n"]
        self.lines: dict[str, int] = {}
        self.array_tables: dict[str, int] = {}

    def line(self) -> int:
        return bisect.bisect_right(self.starts, self.i)

    def record(self, path: str) -> None:
        self.lines.setdefault(path, self.line())

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip(self, newlines: bool = True) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            elif c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            else:
                return

    def string(self) -> str:
        quote = self.s[self.i]
        triple = self.s.startswith(quote * 3, self.i)
        if triple:
            end = self.s.find(quote * 3, self.i + 3)
            if end < 0:
                raise ValueError("unterminated string")
            value = self.s[self.i + 3 : end]
            self.i = end + 3
            return value
        j = self.i + 1
        while j < len(self.s) and self.s[j] != quote:
            j += 2 if quote == '"' and self.s[j] == "\\" else 1
        if j >= len(self.s):
            raise ValueError("unterminated string")
        value = self.s[self.i + 1 : j]
        self.i = j + 1
        return value

    def key(self) -> str:
        """A dotted key: bare or quoted parts joined by dots."""
        parts = []
        while True:
            self.skip(newlines=False)
            if self.peek() in ('"', "'"):
                parts.append(self.string())
            else:
                j = self.i
                while j < len(self.s) and (self.s[j].isalnum() or self.s[j] in "_-"):
                    j += 1
                if j == self.i:
                    raise ValueError(f"expected a key at line {self.line()}")
                parts.append(self.s[self.i : j])
                self.i = j
            self.skip(newlines=False)
            if self.peek() != ".":
                return ".".join(parts)
            self.i += 1

    def value(self, path: str) -> None:
        self.skip(newlines=False)
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c == "[":
            self.array(path)
        elif c == "{":
            self.table(path)
        else:
            while self.i < len(self.s) and self.s[self.i] not in ",]}\n#":
                self.i += 1

    def array(self, path: str) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip()
            if self.peek() in ("]", ""):
                self.i += 1
                return
            item = f"{path}[{index}]"
            self.record(item)
            self.value(item)
            self.skip()
            if self.peek() == ",":
                self.i += 1
                index += 1

    def table(self, path: str) -> None:
        self.i += 1
        while True:
            self.skip()
            if self.peek() in ("}", ""):
                self.i += 1
                return
            self.entry(path)
            self.skip()
            if self.peek() == ",":
                self.i += 1

    def entry(self, prefix: str) -> None:
        key = self.key()
        path = f"{prefix}.{key}" if prefix else key
        self.record(path)
        self.skip(newlines=False)
        if self.peek() not in ("=", ":"):
            raise ValueError(f"expected = after {key!r}")
        self.i += 1
        self.value(path)

    def toml(self) -> None:
        prefix = ""
        while True:
            self.skip()
            if self.i >= len(self.s):
                return
            if self.s.startswith("[[", self.i):
                self.i += 2
                name = self.key()
                index = self.array_tables.get(name, 0)
                self.array_tables[name] = index + 1
                prefix = f"{name}[{index}]"
                self.record(name)
                self.record(prefix)
                self.i = self.s.index("]]", self.i) + 2
            elif self.peek() == "[":
                self.i += 1
                prefix = self.key()
                self.record(prefix)
                self.i = self.s.index("]", self.i) + 1
            else:
                self.entry(prefix)


def key_lines(text: str, kind: str) -> dict[str, int]:
    """Key path -> 1-based line, for ``kind`` ``"toml"``, ``"json"`` or ``"yaml"``."""
    if kind == "yaml":
        return _yaml_lines(text)
    scanner = _Scanner(text)
    try:
        if kind == "json":
            scanner.skip()
            scanner.value("")
        else:
            scanner.toml()
    except (ValueError, IndexError):
        pass
    return {k.lstrip("."): v for k, v in scanner.lines.items()}


def _yaml_lines(text: str) -> dict[str, int]:
    try:
        import yaml

        root = yaml.compose(text)
    except Exception:  # PyYAML missing or the text unreadable: no lines, the parser reports
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines.setdefault(child, key.start_mark.line + 1)
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                child = f"{path}[{index}]"
                lines.setdefault(child, value.start_mark.line + 1)
                walk(value, child)

    if root is not None:
        walk(root, "")
    return lines


def line_of(lines: dict[str, int], path: str | None) -> int | None:
    """The line of ``path``, or of its nearest enclosing key that has one."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None
