"""The one place where transport errors become llmprod's: httpx's (and so aiohttp's,
read into httpx's first), most specific first, with ``raise ... from``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._core.errors import (
    ConnectError,
    InvalidRequestError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
)
from .._safety.secrets import scrub_secrets

MAX_ERROR_TEXT = 500  # characters of a provider's error message kept in ours


@contextmanager
def map_http_errors(deployment: str) -> Iterator[None]:
    """Translate httpx's transport errors into llmprod's, keeping the cause (unless its
    text held a key)."""
    import httpx

    try:
        yield
    except (httpx.TransportError, httpx.DecodingError) as exc:
        said = _said(exc)
        # ``from None`` when the text held a key: tracebacks, logging and error trackers
        # then leave the original (unscrubbed) error out.
        raise _translated(exc, said, deployment) from (exc if said == str(exc)[:MAX_ERROR_TEXT] else None)


def _translated(exc: Exception, said: str, deployment: str) -> ProviderError | InvalidRequestError:
    """The llmprod error for one of httpx's, most specific first."""
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectError(f"connect timed out: {said}", deployment=deployment)
    if isinstance(exc, httpx.ConnectError):
        return ConnectError(f"could not connect: {said}", deployment=deployment)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(f"{type(exc).__name__}: {said}", deployment=deployment)
    if isinstance(exc, httpx.DecodingError):
        return MalformedResponseError(f"undecodable response body: {said}", deployment=deployment)
    if isinstance(exc, httpx.LocalProtocolError):
        # The request could not be written as HTTP (a header with a line break): ours, not
        # the provider's, and nothing was sent.
        return InvalidRequestError(f"cannot be sent as HTTP: {said}", field="request")
    # RemoteProtocolError, ReadError, WriteError: the request may have been sent.
    return ProviderConnectionError(f"connection broke: {type(exc).__name__}: {said}", deployment=deployment)


def _said(exc: BaseException) -> str:
    """A transport error's text, scrubbed: it may quote a URL, and a URL may carry a key."""
    return scrub_secrets(str(exc))[:MAX_ERROR_TEXT]
