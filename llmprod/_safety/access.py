"""Access control for multi-tenant use: which API keys may call, and what they may use.

Keys are held only as SHA-256 digests: the policy never stores a caller's key, so a
leaked config, repr or log shows nothing usable. A presented key is hashed and its
digest compared with :func:`hmac.compare_digest`.

Example::

    policy = llmprod.AccessPolicy([
        llmprod.ApiKey.create("sk-team-a-...", name="team-a", tenant="a", models=["gpt-4o-mini"]),
        llmprod.ApiKey(name="team-b", key_sha256="9f86d0...", tenant="b",
                       rate_limit=llmprod.RateLimit(requests_per_minute=60)),
    ])
    client = llmprod.AsyncClient(backend, access=policy)
    await client.chat("hi", api_key="sk-team-a-...", model="gpt-4o-mini")
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .._core.config import Budget, RateLimit
from .._core.errors import AccessDeniedError, ConfigError
from .._core.models import ChatRequest

_HEX64 = re.compile(r"[0-9a-f]{64}")


def hash_key(secret: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """One caller's key (as its SHA-256 digest) and what it may do.

    ``models``: patterns (``fnmatch``, e.g. ``"gpt-4o*"``) for ``model=``, which names a
    model or a route; None allows any, and only then may a call omit the model.
    ``routes``: the router tiers (``tier=``) it may ask for; None allows any.
    ``tenant``: the tenant its calls are billed, cached and limited under (it replaces
    whatever tenant the caller passes). ``rate_limit``: this key's own limits.
    ``budget``: this key's own spend limit (its ``hard``/``soft``/``window``; it counts the
    key's calls only, whatever its ``per``), enforced on top of the client's budget.
    """

    name: str
    key_sha256: str
    tenant: str | None = None
    models: Sequence[str] | None = None
    routes: Sequence[str] | None = None
    rate_limit: RateLimit | None = None
    budget: Budget | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"must be a non-empty string, got {type(self.name).__name__}", path="api_key.name")
        if not isinstance(self.key_sha256, str) or not _HEX64.fullmatch(self.key_sha256):
            raise ConfigError("must be a lowercase SHA-256 hex digest (use ApiKey.create)", path="api_key.key_sha256")
        if self.tenant is not None and not isinstance(self.tenant, str):
            raise ConfigError(f"must be a string or None, got {type(self.tenant).__name__}", path="api_key.tenant")
        for field_name in ("models", "routes"):
            patterns = getattr(self, field_name)
            if isinstance(patterns, str):
                raise ConfigError("must be a list of patterns, not one string", path=f"api_key.{field_name}")
            if patterns is not None and (
                not isinstance(patterns, Sequence) or not all(isinstance(p, str) for p in patterns)
            ):
                raise ConfigError("must be a list of pattern strings, or None", path=f"api_key.{field_name}")
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise ConfigError(
                f"must be a llmprod.RateLimit, got {type(self.rate_limit).__name__}", path="api_key.rate_limit"
            )
        if self.budget is not None and not isinstance(self.budget, Budget):
            raise ConfigError(f"must be a llmprod.Budget, got {type(self.budget).__name__}", path="api_key.budget")

    @classmethod
    def create(cls, secret: str, *, name: str, **options: Any) -> ApiKey:
        """An entry for ``secret``, which is hashed at once and not kept."""
        if not isinstance(secret, str) or not secret:
            raise ConfigError("must be a non-empty string", path="api_key.secret")
        try:
            secret.encode()
        except UnicodeEncodeError:
            raise ConfigError("must be valid UTF-8 text (it has a lone surrogate)", path="api_key.secret") from None
        return cls(name=name, key_sha256=hash_key(secret), **options)

    def allows_model(self, model: str | None) -> bool:
        if self.models is None:
            return True
        return model is not None and any(fnmatchcase(model, pattern) for pattern in self.models)

    def allows_route(self, tier: str | None) -> bool:
        return self.routes is None or tier is None or any(fnmatchcase(tier, p) for p in self.routes)


class AccessPolicy:
    """The set of accepted keys. ``authorize`` returns the caller's entry or raises
    :class:`AccessDeniedError`, whose message names the key's ``name``, never the key."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        if isinstance(keys, str | bytes | ApiKey) or not isinstance(keys, Iterable):
            raise ConfigError(f"must be a list of llmprod.ApiKey, got {type(keys).__name__}", path="access.keys")
        self.keys: tuple[ApiKey, ...] = tuple(keys)
        for i, key in enumerate(self.keys):
            if not isinstance(key, ApiKey):
                raise ConfigError(f"must be a llmprod.ApiKey, got {type(key).__name__}", path=f"access.keys[{i}]")
        self._by_digest: dict[str, ApiKey] = {}
        for key in self.keys:
            if key.key_sha256 in self._by_digest:
                raise ConfigError(f"key {key.name!r} is listed twice", path="access.keys")
            self._by_digest[key.key_sha256] = key

    def __repr__(self) -> str:
        return f"AccessPolicy([{', '.join(repr(k.name) for k in self.keys)}])"

    def authenticate(self, secret: str | None) -> ApiKey:
        if not secret:
            raise AccessDeniedError("no API key given")
        digest = hash_key(secret)
        # Looking up a digest leaks nothing about the key by timing (no one can aim at a
        # digest prefix); the compare is constant time anyway.
        found = self._by_digest.get(digest)
        if found is None or not hmac.compare_digest(found.key_sha256, digest):
            raise AccessDeniedError("unknown API key")
        return found

    def authorize(self, request: ChatRequest) -> ApiKey:
        key = self.authenticate(request.metadata.api_key)
        if not key.allows_model(request.model):
            what = f"model {request.model!r}" if request.model else "the default model (name a model)"
            raise AccessDeniedError(f"API key {key.name!r} may not use {what}")
        if not key.allows_route(request.metadata.tier):
            raise AccessDeniedError(f"API key {key.name!r} may not use route {request.metadata.tier!r}")
        return key
