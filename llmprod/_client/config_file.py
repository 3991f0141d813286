"""Build a client from a TOML (or YAML) file or a dict.

    deployments = [
      { provider = "openai", model = "gpt-4o-mini", api_key = "${OPENAI_API_KEY}" },
      { provider = "simulated", model = "sim-small" },
    ]
    [retry]
    attempts = 3
    [cache]
    ttl = 3600
    [redis]                         # optional: one Redis shared by every process
    url = "${REDIS_URL}"            # breaker, cache, budget, rate limit and ledger

Every section is checked against its config class: an unknown key, a wrong type or a
bad value raises :class:`ConfigError` naming the exact key path
(``deployments[0].model``) and what was expected. ``${NAME}`` is replaced by the
environment variable NAME; a missing one is an error (its value is never printed).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from .._core import config as _config
from .._core.backend import Backend
from .._core.deployment import Deployment
from .._core.errors import ConfigError
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


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A validated configuration: the deployments and the keyword arguments of the client."""

    deployments: list[Backend | Deployment]
    options: dict[str, Any] = field(default_factory=dict)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, path: str) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"environment variable {name} is not set", path=path)
            return os.environ[name]

        return _ENV.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: _expand(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _read(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError("YAML config needs PyYAML: pip install 'llmprod[yaml]'") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}") from None
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a table of settings")
    return data


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "nothing (omit it)"
    return getattr(hint, "__name__", str(hint))


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
    if origin in (Sequence, list, tuple, typing.Sequence):
        args = typing.get_args(hint)
        return isinstance(value, list | tuple) and all(_matches(v, args[0]) for v in value) if args else True
    if origin in (Mapping, dict, typing.Mapping):
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # callables and other hints cannot come from a file; the constructor checks them


def build_section(cls: type[Any], raw: Any, path: str) -> Any:
    """Build one config object, checking keys and types against its dataclass fields."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expected a table of {cls.__name__} settings, got {type(raw).__name__}", path=path)
    # The config classes' names live in _config (their __module__ is rewritten to "llmprod").
    hints = typing.get_type_hints(cls, globalns=vars(_config))
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"unknown key; expected one of {sorted(names)}", path=f"{path}.{key}")
        if not _matches(value, hints[key]):
            raise ConfigError(
                f"expected {_type_name(hints[key])}, got {value!r}"
                if "key" not in key and "url" not in key
                else f"expected {_type_name(hints[key])}",
                path=f"{path}.{key}",
            )
    try:
        return cls(**raw)
    except ConfigError as exc:
        raise ConfigError(
            exc.message.split(": ", 1)[-1], path=f"{path}.{exc.path.split('.', 1)[-1]}" if exc.path else path
        ) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), path=path) from None


def _backend(raw: Any, path: str) -> Backend:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expected a table with a 'provider', got {type(raw).__name__}", path=path)
    settings = dict(raw)
    provider = settings.pop("provider", None)
    if provider not in PROVIDERS:
        raise ConfigError(f"expected one of {sorted(PROVIDERS)}, got {provider!r}", path=f"{path}.provider")
    module, cls_name, preset = PROVIDERS[provider]
    cls = getattr(importlib.import_module(module), cls_name)
    parameters = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for key in settings:
        if key not in parameters and not accepts_any:
            allowed = sorted(k for k, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD)
            raise ConfigError(f"unknown key for provider {provider!r}; expected one of {allowed}", path=f"{path}.{key}")
    try:
        if preset is not None:
            backend: Backend = cls.preset(preset, **settings)
        else:
            backend = cls(**settings)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), path=path) from None
    return backend


def _deployment(raw: Any, path: str) -> Backend | Deployment:
    if isinstance(raw, Mapping) and "replicas" in raw:
        settings = dict(raw)
        unknown = set(settings) - _DEPLOYMENT_KEYS
        if unknown:
            raise ConfigError(
                f"unknown key; expected one of {sorted(_DEPLOYMENT_KEYS)}", path=f"{path}.{sorted(unknown)[0]}"
            )
        replicas = settings.pop("replicas")
        if not isinstance(replicas, list) or not replicas:
            raise ConfigError("expected a non-empty list of replicas", path=f"{path}.replicas")
        settings["replicas"] = [_backend(r, f"{path}.replicas[{i}]") for i, r in enumerate(replicas)]
        if "hedge" in settings:
            settings["hedge"] = build_section(_config.Hedge, settings["hedge"], f"{path}.hedge")
        try:
            return Deployment(**settings)
        except ConfigError as exc:
            raise ConfigError(exc.message.split(": ", 1)[-1], path=path) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), path=path) from None
    return _backend(raw, path)


def load_config(source: str | Path | Mapping[str, Any]) -> ClientSpec:
    """Read and validate a config file (TOML, or YAML with PyYAML) or a dict."""
    data = _expand(_read(source), "")
    unknown = set(data) - {"deployments", "redis", *_SECTIONS}
    if unknown:
        expected = sorted({"deployments", "redis", *_SECTIONS})
        raise ConfigError(f"unknown section; expected one of {expected}", path=sorted(unknown)[0])
    raw_deployments = data.get("deployments")
    if not isinstance(raw_deployments, list) or not raw_deployments:
        raise ConfigError("expected a non-empty list of deployments", path="deployments")
    deployments = [_deployment(d, f"deployments[{i}]") for i, d in enumerate(raw_deployments)]
    options: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name not in data:
            continue
        raw = data[name]
        if raw is False and name in _OFF_ALLOWED:
            options[name] = None if name != "telemetry" else False
        else:
            options[name] = build_section(cls, raw, name)
    if "redis" in data:
        options["redis_url"] = _redis_url(data["redis"])
    return ClientSpec(deployments=deployments, options=options)


def _redis_url(raw: Any) -> str:
    """The ``[redis]`` section: ``url``, shared by every layer that keeps state."""
    if not isinstance(raw, Mapping):
        raise ConfigError("expected a table with a 'url'", path="redis")
    unknown = set(raw) - {"url"}
    if unknown:
        raise ConfigError("unknown key; expected one of ['url']", path=f"redis.{sorted(unknown)[0]}")
    if "url" not in raw:
        raise ConfigError("missing; the Redis URL every process shares", path="redis.url")
    return check_redis_url(raw["url"], path="redis.url")


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
