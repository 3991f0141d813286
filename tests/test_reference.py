"""The API reference (docs/reference/) covers the public API, and renders it properly.

The first tests read the pages' sources and run everywhere. The others read the built
site: the `docs` nox session builds it (strict) and runs this file on it through
LLMPROD_DOCS_SITE; elsewhere the site is built here when mkdocs is installed.
"""

from __future__ import annotations

import dataclasses
import html
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import llmprod

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
MODULES = ["llmprod", *sorted(f"llmprod.{name}" for name in llmprod._SUBMODULES)]
DIRECTIVE = re.compile(r"^::: ([\w.]+)$", re.M)  # an entry mkdocstrings renders in full
ANCHOR_ROW = re.compile(r"^\| \[\]\(\)\{#([\w.]+)\}.*?\| \[`[\w.]+`\]\[([\w.]+)\] \|$", re.M)  # a link to it
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|data|attr|exc|obj|const):(?:`|<code>)")


def public_names() -> set[str]:
    return {f"{module}.{name}" for module in MODULES for name in importlib.import_module(module).__all__}


def resolve(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def source_entries() -> tuple[list[str], dict[str, str]]:
    """The full entries (``::: path``) and the listed ones (anchor -> the entry it links to)."""
    full: list[str] = []
    listed: dict[str, str] = {}
    for page in sorted((ROOT / "docs").rglob("*.md")):  # an entry elsewhere would be a second one
        text = page.read_text()
        full += [p for p in DIRECTIVE.findall(text) if p not in MODULES]
        listed.update(ANCHOR_ROW.findall(text))
    return full, listed


def test_every_public_name_has_an_entry_and_every_entry_is_public() -> None:
    full, listed = source_entries()
    entries = [*full, *listed]
    public = public_names()
    assert len(public) > 100
    assert sorted(public - set(entries)) == [], "public names without a reference entry"
    assert sorted(set(entries) - public) == [], "reference entries for names that are not public"
    assert len(entries) == len(set(entries)), "a name has two entries"


def test_each_object_is_documented_once_and_its_other_names_link_there() -> None:
    full, listed = source_entries()
    by_object: dict[int, list[str]] = {}
    for path in full:
        by_object.setdefault(id(resolve(path)), []).append(path)
    assert {k: v for k, v in by_object.items() if len(v) > 1} == {}, "one object, two full entries"
    for name, target in listed.items():
        assert target in full, f"{name} links to {target}, which has no full entry"
        assert resolve(name) is resolve(target), f"{name} links to {target}, another object"


def test_the_nav_lists_every_reference_page() -> None:
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in REFERENCE.glob("*.md"))
    assert len(pages) >= 5
    assert [p for p in pages if p not in nav] == []


# The built site.


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("LLMPROD_DOCS_SITE")
    if given:
        return Path(given)
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings_handlers") is None:
        pytest.skip("needs mkdocs-material and mkdocstrings[python]: `nox -s docs` runs these")
    out = tmp_path_factory.mktemp("site")
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    done = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]
    return out


def page(site: Path, name: str) -> str:
    return (site / "reference" / name / "index.html").read_text()


def reference_html(site: Path) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in sorted((site / "reference").glob("*/index.html"))}


def entry(html_text: str, entry_id: str) -> str:
    """The HTML of one entry: from its heading to the next heading of its level or above."""
    at = html_text.index(f'id="{entry_id}"')
    level = int(html_text[html_text.rindex("<h", 0, at) + 2])
    end = re.compile(rf"<h[1-{level}][ >]").search(html_text, at)
    return html_text[at : end.start() if end else len(html_text)]


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_no_page_shows_a_raw_sphinx_role(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    raw = {p.relative_to(site).as_posix(): ROLE.findall(p.read_text()) for p in pages}
    assert {k: v for k, v in raw.items() if v} == {}


def test_built_entries_are_exactly_the_public_names(site: Path) -> None:
    ids: set[str] = set()
    for body in reference_html(site).values():
        ids |= set(re.findall(r'<h\d id="(llmprod[\w.]*)"[^>]*class="doc doc-heading"', body))
        ids |= set(re.findall(r'<a href="" id="(llmprod[\w.]*)"></a>', body))  # a row of "Also exported here"
    public = public_names()
    assert sorted(public - ids) == []
    for found in ids - public - set(MODULES):  # members: their owner is public, they are not private
        owner = max((p for p in public if found.startswith(p + ".")), key=len, default=None)
        assert owner is not None, f"{found} is not under a public name"
        assert not any(part.startswith("_") and not part.endswith("__") for part in found.split(".")), found


def test_cross_references_link_to_full_entries(site: Path) -> None:
    headings: dict[str, set[str]] = {}
    for name, body in reference_html(site).items():
        headings[name] = set(re.findall(r'<h\d id="([\w.]+)"[^>]*class="doc doc-heading', body))
        headings[name] |= set(re.findall(r'<a id="([\w.]+)"></a>', body)) & set(MODULES)  # a module's docstring
    links = 0
    for name, body in reference_html(site).items():
        for href in re.findall(r'<a class="autorefs autorefs-internal"[^>]*href="([^"]*)"', body):
            target_page, _, anchor = href.rpartition("#")
            if not anchor.startswith("llmprod"):
                continue
            owner = name if target_page in ("", "./") else Path(target_page.rstrip("/")).name
            assert anchor in headings.get(owner, set()), f"{name}: a link to #{anchor} on {owner} lands on no entry"
            links += 1
    assert links > 200


CONFIG = [
    ("config", "llmprod", name)
    for name in "Retry Breaker Timeout Hedge Cache CacheControl PII Budget Guards RateLimit Telemetry".split()
] + [
    ("config", "llmprod", "Router"),
    ("config", "llmprod", "Deployment"),
    ("config", "llmprod", "ApiKey"),
    ("layers", "llmprod.layers", "Insert"),
]


@pytest.mark.parametrize(("page_name", "module", "name"), CONFIG)
def test_config_fields_show_their_type_and_default(site: Path, page_name: str, module: str, name: str) -> None:
    """Every field of every config dataclass: a row with a type and the default the code has."""
    cls = getattr(importlib.import_module(module), name)
    table = entry(page(site, page_name), f"{module}.{name}")
    table = table[table.index("Fields:") :]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        cells = [text(c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        if cells:
            rows[cells[0]] = cells[1:]
    fields = dataclasses.fields(cls)
    assert sorted(rows) == sorted(f.name for f in fields)
    for f in fields:
        kind, _description, default = rows[f.name]
        assert kind, f"{name}.{f.name} has no type"
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            assert default == "required", (name, f.name, default)
        elif isinstance(f.default, bool | int | float | str | type(None)):  # shown as written: 3, 64 * 1024
            assert eval(default, {"__builtins__": {}}) == f.default, (name, f.name, default)


def test_a_few_config_defaults_read_as_in_the_code(site: Path) -> None:
    config = page(site, "config")
    retry = text(entry(config, "llmprod.Retry"))
    assert re.search(r"attempts\s+int\s+3\b", retry)
    cache = text(entry(config, "llmprod.Cache"))
    assert re.search(r"ttl\s+float\s+3600\.0", cache)
    assert re.search(r"max_bytes\s+int\s+64 \* 1024 \* 1024", cache)
    pii = text(entry(config, "llmprod.PII"))
    assert re.search(r"mode\s+Literal\['mask', 'pseudonymize'\]\s+'mask'", pii)  # the alias, spelt out
    access = text(entry(config, "llmprod.AccessPolicy"))  # not a dataclass: its signature says it
    assert re.search(r"AccessPolicy\(keys: Iterable\[ApiKey\]\)", access)


@pytest.mark.parametrize(
    ("page_name", "entry_id"),
    [
        ("client", "llmprod.Client.chat"),
        ("client", "llmprod.Client.stream"),
        ("client", "llmprod.Client.batch"),
        ("client", "llmprod.AsyncClient.chat"),
        ("client", "llmprod.AsyncClient.stream"),
        ("client", "llmprod.AsyncClient.batch"),
    ],
)
def test_chat_stream_and_batch_show_every_keyword_argument(site: Path, page_name: str, entry_id: str) -> None:
    from llmprod._core.arguments import ChatArgs

    shown = entry(page(site, page_name), entry_id)
    signature = text(shown[: shown.index("</code></pre>")])
    assert "**kwargs" not in signature and "Unpack" not in signature
    for name, kind in [("max_tokens", "int"), ("temperature", "float"), ("messages", "Sequence")]:
        assert re.search(rf"\b{name}: {kind}", signature), (entry_id, name)
    for name in ChatArgs.__annotations__:
        assert re.search(rf"<code>{name}</code>", shown), (entry_id, name)  # a row of the parameters table
