"""Checks of the arguments the HTTP backends are built with: :class:`ConfigError` at
construction, naming the argument, rather than an untyped error at the first call.

Values are never echoed: a base URL may carry a password, a header a key.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from .._core.config import _integer, _positive
from .._core.errors import ConfigError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110 token)
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")  # what every HTTP stack sends as is: printable ASCII


class BaseUrl(NamedTuple):
    """A base URL without its user and password, and the Basic credentials they made."""

    url: str
    netloc: str  # host[:port], for names
    basic: str | None  # an Authorization header value, or None


def base_url(value: object, *, path: str) -> BaseUrl:
    """An http(s) URL with a host. ``user:password@`` moves out of it into a Basic header."""
    if not isinstance(value, str):
        raise ConfigError(f"must be an http(s) URL string, got {type(value).__name__}", path=path)
    if not _FIELD_VALUE.fullmatch(value) or any(c.isspace() for c in value):
        raise ConfigError("must be a URL without spaces, control or non-ASCII characters", path=path)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ConfigError("is not a valid URL", path=path) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("must be an http(s) URL with a host, like http://gpu-1:8000/v1", path=path)
    netloc = parts.netloc.rpartition("@")[2]
    basic = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        basic = "Basic " + base64.b64encode(pair).decode("ascii")
    url = parts._replace(netloc=netloc).geturl().rstrip("/")
    return BaseUrl(url, netloc, basic)


def secret(value: object, *, path: str) -> str | None:
    """An API key (or None): a string that can travel in a header."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, got {type(value).__name__}", path=path)
    if not _FIELD_VALUE.fullmatch(value):
        raise ConfigError("must be printable ASCII (it travels in an HTTP header)", path=path)
    return value


def headers(value: object, *, path: str) -> dict[str, str]:
    """Extra HTTP headers: names and values that every HTTP stack can send."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a mapping of header names to values, got {type(value).__name__}", path=path)
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ConfigError("has a header name that is not an HTTP token", path=path)
        if not isinstance(text, str) or not _FIELD_VALUE.fullmatch(text):
            raise ConfigError(f"header {name!r} must be a printable ASCII string", path=path)
        out[name] = text
    return out


def text(value: object, *, path: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"must be a non-empty string, got {type(value).__name__}", path=path)
    return value


def optional_text(value: object, *, path: str) -> str | None:
    """A non-empty string, or None."""
    return None if value is None else text(value, path=path)


def pool(
    prefix: str, *, connect_timeout: object, read_timeout: object, max_connections: object, region: object
) -> None:
    """The connection options every HTTP backend takes."""
    _positive(f"{prefix}.connect_timeout", connect_timeout, optional=False)
    _positive(f"{prefix}.read_timeout", read_timeout)
    _integer(f"{prefix}.max_connections", max_connections)
    optional_text(region, path=f"{prefix}.region")


def has_header(sent: Mapping[str, str], name: str) -> bool:
    return any(k.lower() == name for k in sent)
