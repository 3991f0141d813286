"""Build a client from a TOML, JSON or YAML file, or a dict.

    deployments = [
      { provider = "openai", model = "gpt-4o-mini", api_key = "${OPENAI_API_KEY}" },
      { provider = "simulated", model = "sim-small" },
    ]
    hooks = ["myapp.audit:AuditHook"]       # import paths
    [retry]
    attempts = 3
    [cache]
    ttl = 3600
    [prometheus]
    port = 9464                             # serve /metrics
    [redis]                                 # optional: one Redis shared by every process
    url = "${REDIS_URL}"                    # breaker, cache, budget, rate limit and ledger

Whatever the client's constructor takes can be set here (a test holds the two
together). The whole file is checked before anything is built, and every problem is
reported at once (:class:`ConfigFileError`), each with its key path
(``deployments[0].model``), its line, what was expected, and for a misspelt key the
closest known one. ``${NAME}`` is replaced by the environment variable NAME; a missing
one is an error (its value is never printed).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import json
import math
import os
import re
import threading
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from .._core import config as _config
from .._core.backend import Backend
from .._core.deployment import Deployment
from .._core.errors import ConfigError, LLMProdError
from .config_imports import build_callable, build_object
from .config_lines import key_lines, line_of
from .shared_state import check_redis_url

_SECTIONS: dict[str, type[Any]] = {
    "retry": _config.Retry,
    "breaker": _config.Breaker,
    "timeout": _config.Timeout,
    "cache": _config.Cache,
    "pii": _config.PII,
    "budget": _config.Budget,
    "guards": _config.Guards,
    "rate_limit": _config.RateLimit,
    "telemetry": _config.Telemetry,
}
_OFF_ALLOWED = {"retry", "breaker", "telemetry"}
# Top-level keys that are not a config class: what each becomes is built below.
_SPECIAL = ("deployments", "redis", "hooks", "fallback", "access", "router", "prometheus", "prices", "layers")
TOP_LEVEL = (*_SPECIAL, *_SECTIONS)
# Client keyword argument -> the top-level key that sets it.
CLIENT_KEYS = {"deployments": "deployments", "redis_url": "redis", **{k: k for k in TOP_LEVEL if k != "redis"}}

# provider name -> (module, class, preset or None)
PROVIDERS: dict[str, tuple[str, str, str | None]] = {
    "openai": ("llmprod.backends.openai", "OpenAICompatible", None),
    "openai-compatible": ("llmprod.backends.openai", "OpenAICompatible", None),
    "vllm-server": ("llmprod.backends.openai", "OpenAICompatible", "vllm"),
    "tgi": ("llmprod.backends.openai", "OpenAICompatible", "tgi"),
    "tensorrt-llm": ("llmprod.backends.openai", "OpenAICompatible", "tensorrt-llm"),
    "ollama": ("llmprod.backends.openai", "OpenAICompatible", "ollama"),
    "anthropic": ("llmprod.backends.anthropic", "Anthropic", None),
    "cohere": ("llmprod.backends.cohere", "Cohere", None),
    "vllm": ("llmprod.backends.vllm", "VLLM", None),
    "transformers": ("llmprod.backends.transformers", "Transformers", None),
    "simulated": ("llmprod.backends.simulated", "Simulated", None),
}
_DEPLOYMENT_KEYS = {"name", "balance", "weights", "hedge", "region", "tier", "replicas", "gpu_hourly_usd", "gpus"}
_SECRET_WORDS = ("key", "url", "token", "secret", "password")


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A validated configuration: the deployments and the keyword arguments of the client.

    ``metrics_server`` is the Prometheus endpoint the file asked for (``[prometheus] port``),
    when it was started (``close()`` stops it).
    """

    deployments: list[Backend | Deployment]
    options: dict[str, Any] = field(default_factory=dict)
    metrics_server: Any = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a config: where (key path, line) and what."""

    path: str | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class ConfigFileError(ConfigError):
    """Every problem found in a config, reported at once. ``problems`` lists them in file
    order; ``path`` is the first one's key path."""

    def __init__(self, problems: Sequence[Problem], origin: str | None = None) -> None:
        ordered = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        if len(ordered) == 1:
            text = f"{origin} {ordered[0]}" if origin and ordered[0].line else str(ordered[0])
        else:
            where = f" in {origin}" if origin else ""
            text = f"{len(ordered)} problems{where}:\n" + "\n".join(f"  {p}" for p in ordered)
        LLMProdError.__init__(self, text)
        self.path = ordered[0].path
        self.problems = list(ordered)


class _Problems:
    """Collects problems while a config is checked, so that all are reported together."""

    def __init__(self, lines: Mapping[str, int]) -> None:
        self.lines = dict(lines)
        self.found: list[Problem] = []

    def add(self, message: str, path: str | None) -> None:
        self.found.append(Problem(path, message, line_of(self.lines, path)))

    def error(self, exc: ConfigError) -> None:
        message = exc.message
        if exc.path and message.startswith(f"{exc.path}: "):
            message = message[len(exc.path) + 2 :]
        self.add(message, exc.path)

    def under(self, path: str) -> bool:
        """Whether a problem was found at ``path`` or inside it."""
        return any(p.path == path or (p.path or "").startswith((f"{path}.", f"{path}[")) for p in self.found)

    def run(self, build: Callable[..., Any], *args: Any) -> Any:
        """``build(*args)``, or None with its ConfigError recorded."""
        try:
            return build(*args)
        except ConfigError as exc:
            self.error(exc)
        except LLMProdError as exc:  # a missing extra, say
            self.add(str(exc), None)
        return None


def did_you_mean(key: str, allowed: Sequence[str]) -> str:
    """``unknown key; did you mean 'x'? expected one of [...]``."""
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (expected one of {sorted(allowed)})"


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, path: str, problems: _Problems | None = None) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"environment variable {name} is not set", path=path)
            return os.environ[name]

        if problems is None:
            return _ENV.sub(sub, value)
        expanded = problems.run(lambda: _ENV.sub(sub, value))
        return value if expanded is None else expanded
    if isinstance(value, Mapping):
        return {k: _expand(v, f"{path}.{k}" if path else str(k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return value


def _kind(path: Path) -> str:
    if path.suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if path.suffix == ".json" else "toml"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _parse(text: str, kind: str, path: Path) -> Any:
    if kind == "yaml":
        try:
            import yaml
        except ImportError:
            raise ConfigError("YAML config needs PyYAML: pip install 'llmprod[yaml]'") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML in {path}: {exc}") from None
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON in {path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None


def _read(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """The settings of a file (TOML; JSON for ``.json``; YAML for ``.yaml``) or a dict."""
    return _read_with_lines(source)[0]


def _read_with_lines(source: str | Path | Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, int]]:
    if isinstance(source, Mapping):
        return source, {}
    path = Path(source)
    text = _read_text(path)
    data = _parse(text, _kind(path), path)
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a table of settings")
    return data, key_lines(text, _kind(path))


def _non_finite(value: Any, path: str, problems: _Problems) -> None:
    """NaN and infinity parse as floats in TOML, JSON and YAML; no setting takes them."""
    if isinstance(value, float) and not math.isfinite(value):
        problems.add(f"must be a finite number, got {value!r}", path)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _non_finite(v, f"{path}.{k}" if path else str(k), problems)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _non_finite(v, f"{path}[{i}]", problems)


# ---------------------------------------------------------------- types


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "nothing (omit it)"
    if _is_callable(hint):
        return "an import path ('package.module:name')"
    if origin in (Sequence, list, tuple, typing.Sequence):
        args = typing.get_args(hint)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin in (Mapping, dict, typing.Mapping):
        return "a table"
    return getattr(hint, "__name__", str(hint))


def _is_callable(hint: Any) -> bool:
    return typing.get_origin(hint) is Callable or hint is Callable


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if _is_callable(hint):
        return callable(value)
    if origin in (Sequence, list, tuple, typing.Sequence):
        args = typing.get_args(hint)
        return isinstance(value, list | tuple) and all(_matches(v, args[0]) for v in value) if args else True
    if origin in (Mapping, dict, typing.Mapping):
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # other hints cannot come from a file; the constructor checks them


def _callable_parts(hint: Any) -> tuple[bool, bool]:
    """(is a callable, is a list of callables) for a field's hint, None aside."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    for option in options:
        if _is_callable(option):
            return True, False
        if typing.get_origin(option) in (Sequence, list, tuple, typing.Sequence):
            args = typing.get_args(option)
            if args and _is_callable(args[0]):
                return False, True
    return False, False


# Fields that hold objects other than callables, named by import path in a file.
_OBJECT_LISTS = {("PII", "detectors")}


def _hint_namespace() -> dict[str, Any]:
    from .._safety import access
    from ..layers import _routing

    return {**vars(_routing), **vars(access), **vars(_config)}


def _hints(cls: type[Any]) -> dict[str, Any]:
    # The config classes' __module__ is rewritten to "llmprod": resolve names in their real modules.
    return typing.get_type_hints(cls, globalns=_hint_namespace())


def _quoted(key: str, value: Any) -> str:
    return "" if any(w in key.lower() for w in _SECRET_WORDS) else f", got {value!r}"


def _section(cls: type[Any], raw: Any, path: str, problems: _Problems) -> Any:
    """One config object, every key checked (all problems recorded); None when any is wrong."""
    if not isinstance(raw, Mapping):
        problems.add(f"expected a table of {cls.__name__} settings, got {type(raw).__name__}", path)
        return None
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    before = len(problems.found)
    for key, value in raw.items():
        where = f"{path}.{key}"
        if key not in names:
            problems.add(did_you_mean(key, names), where)
            continue
        one, many = _callable_parts(hints[key])
        if (cls.__name__, key) in _OBJECT_LISTS and isinstance(value, list):
            value = [problems.run(build_object, v, f"{where}[{i}]") for i, v in enumerate(value)]
        elif one and isinstance(value, str | Mapping):
            value = problems.run(build_callable, value, where)
        elif many and isinstance(value, list):
            value = [problems.run(build_callable, v, f"{where}[{i}]") for i, v in enumerate(value)]
        elif not _matches(value, hints[key]):
            problems.add(f"expected {_type_name(hints[key])}{_quoted(key, value)}", where)
            continue
        values[key] = value
    if len(problems.found) > before or problems.under(path):  # a NaN inside, say
        return None
    return problems.run(_construct, cls, values, path)


def _construct(cls: type[Any], values: Mapping[str, Any], path: str) -> Any:
    try:
        return cls(**values)
    except ConfigError as exc:
        detail = exc.path.split(".", 1)[-1] if exc.path and "." in exc.path else None
        message = exc.message.split(": ", 1)[-1]
        raise ConfigError(message, path=f"{path}.{detail}" if detail else path) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), path=path) from None


def build_section(cls: type[Any], raw: Any, path: str) -> Any:
    """Build one config object, checking keys and types against its dataclass fields."""
    problems = _Problems({})
    built = _section(cls, raw, path, problems)
    if problems.found:
        raise ConfigFileError(problems.found)
    return built


# ---------------------------------------------------------------- deployments


def _constructor_hints(cls: type[Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # a hint that cannot be resolved here: leave the check to the constructor
        return {}


def _backend(raw: Any, path: str, problems: _Problems) -> Backend | None:
    if not isinstance(raw, Mapping):
        problems.add(f"expected a table with a 'provider', got {type(raw).__name__}", path)
        return None
    settings = dict(raw)
    provider = settings.pop("provider", None)
    if provider not in PROVIDERS:
        close = difflib.get_close_matches(str(provider), list(PROVIDERS), n=1) if isinstance(provider, str) else []
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.add(f"{hint}expected one of {sorted(PROVIDERS)}, got {provider!r}", f"{path}.provider")
        return None
    module, cls_name, preset = PROVIDERS[provider]
    cls = problems.run(_import_backend, module, cls_name, f"{path}.provider")
    if cls is None:
        return None
    parameters = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    allowed = [k for k, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD and k != "self"]
    hints = _constructor_hints(cls)
    before = len(problems.found)
    for key, value in settings.items():
        if key not in parameters and not accepts_any:
            problems.add(f"{did_you_mean(key, allowed)} for provider {provider!r}", f"{path}.{key}")
        elif key in hints and not _matches(value, hints[key]):
            problems.add(f"expected {_type_name(hints[key])}{_quoted(key, value)}", f"{path}.{key}")
    if len(problems.found) > before:
        return None

    def build() -> Backend:
        try:
            backend: Backend = cls.preset(preset, **settings) if preset is not None else cls(**settings)
        except ConfigError as exc:
            where = f"{path}.{exc.path.split('.', 1)[-1]}" if exc.path else path
            raise ConfigError(exc.message.split(": ", 1)[-1], path=where) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), path=path) from None
        return backend

    built: Backend | None = problems.run(build)
    return built


def _import_backend(module: str, cls_name: str, path: str) -> Any:
    try:
        return getattr(importlib.import_module(module), cls_name)
    except ImportError as exc:
        raise ConfigError(f"this provider needs an extra that is not installed: {exc}", path=path) from None


def _deployment(raw: Any, path: str, problems: _Problems) -> Backend | Deployment | None:
    if not (isinstance(raw, Mapping) and "replicas" in raw):
        return _backend(raw, path, problems)
    settings = dict(raw)
    for key in sorted(set(settings) - _DEPLOYMENT_KEYS):
        problems.add(did_you_mean(key, sorted(_DEPLOYMENT_KEYS)), f"{path}.{key}")
        del settings[key]
    replicas = settings.pop("replicas")
    if not isinstance(replicas, list) or not replicas:
        problems.add("expected a non-empty list of replicas", f"{path}.replicas")
        return None
    built = [_backend(r, f"{path}.replicas[{i}]", problems) for i, r in enumerate(replicas)]
    if "hedge" in settings:
        settings["hedge"] = _section(_config.Hedge, settings["hedge"], f"{path}.hedge", problems)
    if any(b is None for b in built) or ("hedge" in settings and settings["hedge"] is None):
        return None

    def build() -> Deployment:
        try:
            return Deployment(replicas=built, **settings)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(exc.message.split(": ", 1)[-1], path=path) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), path=path) from None

    deployment: Deployment | None = problems.run(build)
    return deployment


# ---------------------------------------------------------------- the other top-level keys


def _hooks(raw: Any, problems: _Problems) -> list[Any] | None:
    if not isinstance(raw, list):
        problems.add("expected a list of import paths (or {use, with} tables)", "hooks")
        return None
    hooks = [problems.run(build_callable, v, f"hooks[{i}]") for i, v in enumerate(raw)]
    return None if any(h is None for h in hooks) else hooks


def _layers(raw: Any, problems: _Problems) -> list[Any] | None:
    """``layers = [{ name = "audit", use = "pkg.mod:Audit", before = "cache" }]``: a user's
    own layers; ``use`` names the factory that gets the layer below."""
    from .._core.stack import Insert
    from .config_imports import import_object

    if not isinstance(raw, list):
        problems.add("expected a list of tables {name, use, before|after}", "layers")
        return None
    built = []
    for i, item in enumerate(raw):
        where = f"layers[{i}]"
        if not isinstance(item, Mapping) or not {"name", "use"} <= set(item) <= {"name", "use", "before", "after"}:
            problems.add("expected a table with 'name', 'use' and 'before' or 'after'", where)
            continue
        factory = problems.run(import_object, item["use"], f"{where}.use")
        if factory is None:
            continue
        built.append(problems.run(_insert, Insert, item, factory))
    return None if any(b is None for b in built) else built


def _insert(insert: type[Any], item: Mapping[str, Any], factory: Any) -> Any:
    return insert(str(item["name"]), factory, before=item.get("before"), after=item.get("after"))


def _access(raw: Any, problems: _Problems) -> Any:
    from .._safety.access import AccessPolicy, ApiKey

    if not isinstance(raw, Mapping) or set(raw) != {"keys"} or not isinstance(raw["keys"], list):
        problems.add("expected a table with 'keys', a list of API key tables", "access")
        return None
    keys = []
    for i, entry in enumerate(raw["keys"]):
        path = f"access.keys[{i}]"
        if not isinstance(entry, Mapping):
            problems.add("expected a table (name, key or key_sha256, tenant, models, ...)", path)
            continue
        entry = dict(entry)
        secret = entry.pop("key", None)  # the key itself (from ${ENV}): hashed at once, never kept
        if secret is not None:
            if not isinstance(secret, str) or not secret:
                problems.add("expected a non-empty string", f"{path}.key")
                continue
            from .._safety.access import hash_key

            entry["key_sha256"] = hash_key(secret)
        for name, cls in (("rate_limit", _config.RateLimit), ("budget", _config.Budget)):
            if name in entry:
                entry[name] = _section(cls, entry[name], f"{path}.{name}", problems)
                if entry[name] is None:
                    break
        else:
            key = _section(ApiKey, entry, path, problems)
            if key is not None:
                keys.append(key)
    if len(keys) != len(raw["keys"]):
        return None
    return problems.run(AccessPolicy, keys)


def _router(raw: Any, problems: _Problems) -> Any:
    from ..layers._routing import Router

    return _section(Router, raw, "router", problems)


_PROMETHEUS_KEYS = ("port", "addr", "tenant", "tags")
_servers: dict[tuple[str, int], Any] = {}
_servers_lock = threading.Lock()


def _prometheus(raw: Any, problems: _Problems) -> tuple[Any, tuple[str, int] | None] | None:
    """The hook, and where to serve /metrics (None: the app serves it, e.g. metrics_asgi_app)."""
    if not isinstance(raw, Mapping):
        problems.add("expected a table (port, addr, tenant, tags)", "prometheus")
        return None
    before = len(problems.found)
    for key in raw:
        if key not in _PROMETHEUS_KEYS:
            problems.add(did_you_mean(key, _PROMETHEUS_KEYS), f"prometheus.{key}")
    port, addr = raw.get("port"), raw.get("addr", "127.0.0.1")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
        problems.add(f"expected a port number 0-65535 (0: any free port), got {port!r}", "prometheus.port")
    if not isinstance(addr, str):
        problems.add(f"expected an address to bind, got {addr!r}", "prometheus.addr")
    if not isinstance(raw.get("tenant", False), bool):
        problems.add("expected true or false", "prometheus.tenant")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.add("expected a list of tag names", "prometheus.tags")
    if len(problems.found) > before:
        return None
    from ..telemetry._prometheus import PrometheusHook

    hook = problems.run(functools.partial(PrometheusHook, tenant=raw.get("tenant", False), tags=tags))
    if hook is None:
        return None
    return hook, (addr, port) if port is not None else None


def serve_metrics_once(addr: str, port: int) -> Any:
    """One metrics server per address and port in a process, however many clients ask."""
    from ..telemetry._prometheus import serve_metrics

    with _servers_lock:
        server = _servers.get((addr, port)) if port else None
        if server is None:
            server = serve_metrics(port, addr)
            _servers[(addr, server.port)] = server
            if port:
                _servers[(addr, port)] = server
        return server


_PRICES_KEYS = ("files", "strict", "genai_prices")
_GENAI_PRICES = ("bundled", "installed", "update")


def _prices(raw: Any, base: Path | None, problems: _Problems) -> Callable[[], None] | None:
    """What ``[prices]`` does to the process-wide table, checked now and done when applied."""
    from ..cost._prices import PriceTable, prices

    if not isinstance(raw, Mapping):
        problems.add("expected a table (files, strict, genai_prices)", "prices")
        return None
    before = len(problems.found)
    for key in raw:
        if key not in _PRICES_KEYS:
            problems.add(did_you_mean(key, _PRICES_KEYS), f"prices.{key}")
    files = raw.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        problems.add("expected a list of prices files (llmprod's format or LiteLLM's JSON)", "prices.files")
        files = []
    paths = [Path(f) if base is None or Path(f).is_absolute() else base / f for f in files]
    for i, file in enumerate(paths):  # read each one now, so that a bad file is reported with the rest
        problems.run(_check_prices_file, PriceTable(builtin=False), file, f"prices.files[{i}]")
    strict = raw.get("strict", prices.strict)
    if not isinstance(strict, bool):
        problems.add("expected true or false", "prices.strict")
    source = raw.get("genai_prices", "bundled")
    if source not in _GENAI_PRICES:
        problems.add(f"expected one of {list(_GENAI_PRICES)}, got {source!r}", "prices.genai_prices")
    if len(problems.found) > before:
        return None

    def apply() -> None:
        if source != "bundled":
            prices.use_genai_prices(update=source == "update")
        for file in paths:
            prices.load(file)
        prices.strict = strict

    return apply


def _check_prices_file(table: Any, file: Path, path: str) -> None:
    try:
        table.load(file)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=path) from None


def _redis_url(raw: Any, problems: _Problems) -> str | None:
    """The ``[redis]`` section: ``url``, shared by every layer that keeps state."""
    if not isinstance(raw, Mapping):
        problems.add("expected a table with a 'url'", "redis")
        return None
    for key in raw:
        if key != "url":
            problems.add(did_you_mean(key, ["url"]), f"redis.{key}")
    if "url" not in raw:
        problems.add("missing; the Redis URL every process shares", "redis.url")
        return None
    url: str | None = problems.run(functools.partial(check_redis_url, path="redis.url"), raw["url"])
    return url


# ---------------------------------------------------------------- the whole file


def load_config(source: str | Path | Mapping[str, Any], *, apply: bool = True) -> ClientSpec:
    """Read and check a config file (TOML; JSON for ``.json``; YAML for ``.yaml``) or a dict.

    Every problem is collected and raised together as :class:`ConfigFileError`. With
    ``apply`` (the default) the process-wide settings take effect once all is well:
    ``[prometheus] port`` starts the metrics endpoint and ``[prices]`` loads prices.
    ``llmprod check-config`` passes ``apply=False``.
    """
    raw, lines = _read_with_lines(source)
    origin = str(source) if not isinstance(source, Mapping) else None
    base = Path(source).parent if not isinstance(source, Mapping) else None
    problems = _Problems(lines)
    _non_finite(raw, "", problems)
    data = _expand(raw, "", problems)
    for key in data:
        if key not in TOP_LEVEL:
            problems.add(did_you_mean(str(key), TOP_LEVEL).replace("unknown key", "unknown section", 1), str(key))
    deployments: list[Backend | Deployment] = []
    raw_deployments = data.get("deployments")
    if not isinstance(raw_deployments, list) or not raw_deployments:
        problems.add("expected a non-empty list of deployments", "deployments")
    else:
        for i, d in enumerate(raw_deployments):
            built = _deployment(d, f"deployments[{i}]", problems)
            if built is not None:
                deployments.append(built)
    options: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name not in data:
            continue
        if data[name] is False and name in _OFF_ALLOWED:
            options[name] = None if name != "telemetry" else False
        else:
            options[name] = _section(cls, data[name], name, problems)
    hooks: list[Any] = []
    if "hooks" in data:
        hooks = _hooks(data["hooks"], problems) or []
    if "fallback" in data:
        options["fallback"] = problems.run(build_callable, data["fallback"], "fallback")
    if "access" in data:
        options["access"] = _access(data["access"], problems)
    if "layers" in data:
        options["layers"] = _layers(data["layers"], problems)
    if "router" in data:
        options["router"] = _router(data["router"], problems)
    metrics = _prometheus(data["prometheus"], problems) if "prometheus" in data else None
    set_prices = _prices(data["prices"], base, problems) if "prices" in data else None
    if "redis" in data:
        options["redis_url"] = _redis_url(data["redis"], problems)
    if problems.found:
        raise ConfigFileError(problems.found, origin)
    if metrics is not None:
        hooks.append(metrics[0])
    if hooks:
        options["hooks"] = hooks
    server = None
    if apply:
        if set_prices is not None:
            set_prices()
        if metrics is not None and metrics[1] is not None:
            server = serve_metrics_once(*metrics[1])
    return ClientSpec(deployments=deployments, options=options, metrics_server=server)


def describe_config(spec: ClientSpec) -> str:
    """The stack a client built from ``spec`` would have, outer to inner (what
    ``client.describe()`` prints). Secrets never appear."""
    from .._core.stack import describe, layer_specs
    from .options import stack_config

    options = {k: v for k, v in spec.options.items() if k != "hooks"}
    deployments, config = stack_config(spec.deployments, **options)
    text = describe(layer_specs(config, deployments), deployments)
    if "redis_url" in spec.options:
        text += "\nshared state in Redis (URL hidden): breaker, cache, budget, rate limit, ledger"
    return text


def _label(d: Backend | Deployment) -> str:
    return d.label if isinstance(d, Deployment) else d.name
