"""The clients. :class:`AsyncClient` is the core; :class:`Client` drives it from sync code."""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._core.backend import Backend, Hook
from .._core.config import PII, Breaker, Budget, Cache, Guards, RateLimit, Retry, Telemetry, Timeout
from .._core.deployment import Deployment, as_deployment
from .._core.errors import (
    AllBackendsFailedError,
    CircuitOpenError,
    DeadlineExceededError,
    InvalidRequestError,
    LLMProdError,
    OutputRejectedError,
    ProviderError,
    RateLimitedError,
    StreamInterruptedError,
)
from .._core.events import CallFinished, CallStarted, Emitter, Feedback
from .._core.models import CacheControl, CallTrace, ChatChunk, ChatRequest, ChatResponse, Message, Usage, new_id
from .._core.request import build_request
from .._core.stack import StackConfig, build_stack
from .._safety.access import AccessPolicy
from ..cost._ledger import Ledger, RedisLedger
from ..cost._report import CostReport
from ..layers._routing import SLO_TARGETS, Router
from ..telemetry._stats import Stats, StatsHook
from .runner import LoopThread
from .shared_state import check_redis_url, with_redis

if TYPE_CHECKING:
    from ..layers.cache import CacheLayer

T = TypeVar("T")

FallbackFunction = Callable[[ChatRequest, BaseException], "ChatResponse | str | Awaitable[ChatResponse | str]"]


class AsyncClient:
    """Production LLM calls: retries, breakers, fallbacks, caching, PII, cost, telemetry.

    ``deployments`` is a backend, or a list tried in order (a fallback chain); with
    none, the built-in simulated provider answers. ``fallback`` is the last resort: a
    function of the request and the final error that returns an answer.
    ``redis_url`` shares state between processes and hosts through one Redis (the
    ``redis`` extra): it fills the ``redis_url`` of the breaker, cache, budget and rate
    limit configs that do not name their own, and the spend ledger's totals go there
    too (``await client.ledger.areport()`` reads every process's). It turns no layer on.

    Example::

        async with llmprod.AsyncClient(llmprod.OpenAICompatible(model="gpt-4o-mini")) as client:
            r = await client.chat("Summarize: ...", max_tokens=200)
    """

    def __init__(
        self,
        deployments: Backend | Deployment | Sequence[Backend | Deployment] | None = None,
        *,
        retry: Retry | None = Retry(),
        breaker: Breaker | None = Breaker(),
        timeout: Timeout = Timeout(),
        cache: Cache | None = None,
        pii: PII | None = None,
        budget: Budget | None = None,
        guards: Guards | None = None,
        rate_limit: RateLimit | None = None,
        access: AccessPolicy | None = None,
        telemetry: Telemetry | bool = True,
        router: Router | None = None,
        hooks: Sequence[Hook] = (),
        fallback: FallbackFunction | None = None,
        redis_url: str | None = None,
    ) -> None:
        if deployments is None:
            from ..backends.simulated import Simulated

            deployments = [Simulated()]
        elif isinstance(deployments, Backend | Deployment):
            deployments = [deployments]
        if not deployments:
            raise LLMProdError("a client needs at least one deployment")
        self.deployments = [as_deployment(d) for d in deployments]
        if isinstance(telemetry, bool):
            telemetry = Telemetry(enabled=telemetry)
        if redis_url is not None:  # one Redis for every piece of shared state (_shared_state.py)
            redis_url = check_redis_url(redis_url)
            breaker, cache = with_redis(breaker, redis_url), with_redis(cache, redis_url)
            budget, rate_limit = with_redis(budget, redis_url), with_redis(rate_limit, redis_url)
        self.config = StackConfig(
            retry=retry,
            breaker=breaker,
            timeout=timeout,
            cache=cache,
            pii=pii,
            budget=budget,
            guards=guards,
            rate_limit=rate_limit,
            access=access,
            telemetry=telemetry,
            router=router,
        )
        self._stats = StatsHook(
            window=telemetry.stats_window, slo_targets=router.slo_targets if router is not None else SLO_TARGETS
        )
        defaults: list[Hook] = [self._stats]
        if telemetry.enabled:
            from ..telemetry._otel import default_hooks

            defaults += default_hooks(telemetry, self.deployments)
        given = [h for h in hooks if isinstance(h, Ledger)]
        self.ledger: Ledger = given[0] if given else (Ledger() if redis_url is None else RedisLedger(redis_url))
        self._owns_ledger = not given
        if not given:
            defaults.append(self.ledger)
        self._emit = Emitter([*defaults, *hooks])
        self._fallback = fallback
        self._slo_targets = router.slo_targets if router is not None else SLO_TARGETS
        self._root = build_stack(self.deployments, self.config, self._emit)
        self._cache: CacheLayer | None = None
        if self.config.cache is not None:
            from ..layers.cache import CacheLayer

            self._cache = _find_layer(self._root, CacheLayer)
        self._closed = False
        # What a call that names no model asks for: the first deployment's own model
        # (reported on CallFinished, so a failed call is still labelled with a model).
        model = getattr(self.deployments[0].replicas[0], "model", None)
        self._model: str | None = model if isinstance(model, str) else None

    def __repr__(self) -> str:
        names = ", ".join(d.label for d in self.deployments)
        return f"{type(self).__name__}([{names}])"

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any], **overrides: Any) -> AsyncClient:
        """Build a client from a TOML/YAML file or a dict (see the configuration docs).

        ``overrides`` are client keyword arguments that win over the file (hooks, fallback).
        """
        from .config_file import load_config

        spec = load_config(source)
        return cls(spec.deployments, **{**spec.options, **overrides})

    @property
    def hooks(self) -> list[Hook]:
        """The hooks that receive every event; append to add one."""
        return self._emit.hooks

    def _prepare(self, prompt: str | None, kwargs: dict[str, Any]) -> ChatRequest:
        if self._closed:
            raise LLMProdError("this client is closed")
        timeout = kwargs.pop("timeout", None)
        known = {k: kwargs.pop(k) for k in list(kwargs) if k in _REQUEST_ARGS}
        request = build_request(prompt, **known, unknown=kwargs)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
            raise InvalidRequestError(f"must be a positive number of seconds, got {timeout!r}", field="timeout")
        slo = request.metadata.slo
        if slo is not None and slo not in self._slo_targets:
            raise InvalidRequestError(
                f"unknown SLO class {slo!r}; expected one of {sorted(self._slo_targets)}", field="slo"
            )
        if timeout is not None:
            total = float(timeout)
        elif slo is not None:
            total = self._slo_targets[slo]
        else:
            total = self.config.timeout.total
        metadata = replace(request.metadata, deadline=time.monotonic() + total)
        return replace(request, metadata=metadata, trace=CallTrace())

    def _finish(self, request: ChatRequest, response: ChatResponse, *, stream: bool) -> ChatResponse:
        trace = request.trace
        assert trace is not None
        now = time.monotonic()
        ttft = trace.first_token_at - trace.started if trace.first_token_at is not None else None
        response = replace(
            response,
            latency=now - trace.started,
            ttft=ttft if stream else response.ttft,
            attempts=max(len(trace.attempts), 0 if response.cached else 1),
            attempt_log=tuple(trace.attempts),
            pii_redacted=dict(trace.pii_counts) or response.pii_redacted,
            tier=trace.tier or response.tier,
            route_reason=trace.route_reason or response.route_reason,
            flagged=tuple(trace.flags) or response.flagged,
        )
        self._emit(_finished(request, stream, now - trace.started, self._model, response=response, ttft=ttft))
        return response

    def _failed(self, request: ChatRequest, exc: BaseException, *, stream: bool) -> None:
        trace = request.trace
        assert trace is not None
        self._emit(_finished(request, stream, time.monotonic() - trace.started, self._model, error=type(exc).__name__))

    async def _last_resort(self, request: ChatRequest, exc: Exception) -> ChatResponse:
        if self._fallback is None or not _backends_failed(exc):
            raise exc
        answer = self._fallback(request, exc)
        if isinstance(answer, Awaitable):
            answer = await answer
        if isinstance(answer, str):
            answer = ChatResponse(
                id=new_id("fallback"),
                text=answer,
                finish_reason="stop",
                usage=Usage(),
                model="fallback",
                deployment="fallback",
            )
        return answer

    async def chat(self, prompt: str | None = None, /, **kwargs: Any) -> ChatResponse:
        """Send one chat request and return the whole answer.

        Takes a prompt string, or ``messages=[{"role": ..., "content": ...}, ...]``, and
        the sampling parameters (``model``, ``max_tokens``, ``temperature``, ``top_p``,
        ``stop``, ``seed``, ``tools``, ...); provider-specific fields go in
        ``extra_body``. Per call: ``timeout`` (the overall deadline, seconds),
        ``tenant``, ``api_key``, ``tags``, ``cache`` (a ``CacheControl``), ``slo``,
        ``region``, ``tier``.
        """
        request = self._prepare(prompt, kwargs)
        return await self._complete(request)

    async def _complete(self, request: ChatRequest) -> ChatResponse:
        trace = request.trace
        assert trace is not None and request.metadata.deadline is not None
        self._emit(CallStarted(trace.call_id, request.model, False, request.metadata.tenant))
        try:
            try:
                async with asyncio.timeout(_backstop(request, self.config.timeout.grace)):
                    response = await self._root.complete(request)
            except Exception as exc:
                error = exc
                if isinstance(exc, TimeoutError) and not isinstance(exc, LLMProdError):
                    error = DeadlineExceededError("the call's deadline passed")  # our backstop fired
                    error.__suppress_context__ = True
                response = await self._last_resort(request, error)
        except BaseException as exc:
            self._failed(request, exc, stream=False)
            raise
        return self._finish(request, response, stream=False)

    async def stream(self, prompt: str | None = None, /, **kwargs: Any) -> AsyncIterator[ChatChunk]:
        """Stream the answer chunk by chunk; takes the same arguments as :meth:`chat`.

        The last chunk carries ``finish_reason``, ``usage`` and the assembled
        ``response``. Retries and fallbacks act only before the first chunk; a failure
        after it raises :class:`StreamInterruptedError` with the text received so far
        (an output guard's block raises :class:`OutputRejectedError`).
        """
        request = self._prepare(prompt, kwargs)
        trace = request.trace
        assert trace is not None
        self._emit(CallStarted(trace.call_id, request.model, True, request.metadata.tenant))
        grace = self.config.timeout.grace
        received: list[str] = []
        stream = self._root.stream(request)
        try:
            while True:
                try:
                    async with asyncio.timeout(_backstop(request, grace)):
                        chunk = await anext(stream)
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    if isinstance(exc, LLMProdError):
                        raise
                    raise DeadlineExceededError("the call's deadline passed") from None
                if trace.first_token_at is None and (chunk.text or chunk.tool_calls):
                    trace.first_token_at = time.monotonic()
                if chunk.response is not None:
                    final = self._finish(request, chunk.response, stream=True)
                    chunk = replace(chunk, response=final)
                received.append(chunk.text)
                yield chunk
        except GeneratorExit:
            self._failed(request, asyncio.CancelledError(), stream=True)
            raise
        except BaseException as exc:
            self._failed(request, exc, stream=True)
            passes = StreamInterruptedError | OutputRejectedError  # a guard's block is a verdict, not a break
            if received and isinstance(exc, Exception) and not isinstance(exc, passes):
                raise StreamInterruptedError(
                    f"stream broke after {len(received)} chunks: {type(exc).__name__}",
                    partial_text="".join(received),
                    deployment=getattr(exc, "deployment", None),
                ) from exc
            raise
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def batch(
        self,
        prompts: Sequence[str | Sequence[Mapping[str, Any]]],
        *,
        concurrency: int = 8,
        progress: bool | Callable[[int, int], None] = False,
        **kwargs: Any,
    ) -> list[ChatResponse | LLMProdError]:
        """Answer many prompts, at most ``concurrency`` at a time, in order.

        A prompt is a string or a list of messages. A failed item's place holds its
        error instead of failing the whole batch. ``progress=True`` shows a progress bar
        (tqdm's when installed, in notebooks too); a callable receives ``(done, total)``.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidRequestError(f"must be an integer >= 1, got {concurrency!r}", field="concurrency")
        gate = asyncio.Semaphore(concurrency)
        report = _progress_reporter(progress, len(prompts))
        done = 0

        async def one(item: str | Sequence[Mapping[str, Any]]) -> ChatResponse | LLMProdError:
            nonlocal done
            async with gate:
                try:
                    if isinstance(item, str):
                        return await self.chat(item, **kwargs)
                    return await self.chat(messages=item, **kwargs)
                except LLMProdError as exc:
                    return exc
                finally:
                    done += 1
                    report(done, len(prompts))

        try:
            return list(await asyncio.gather(*(one(p) for p in prompts)))
        finally:
            close = getattr(report, "close", None)
            if close is not None:
                close()

    def stats(self) -> Stats:
        """p50/p95/p99 latency and TTFT, requests and tokens per second, error rate,
        cache hit rate and $ per 1K requests, overall and by model and deployment,
        over the last ``Telemetry.stats_window`` seconds; and what the cache holds."""
        stats = self._stats.stats()
        usage = self._cache.usage() if self._cache is not None else None
        if usage is not None:
            stats = replace(stats, cache_entries=usage[0], cache_bytes=usage[1])
        return stats

    def costs(self) -> CostReport:
        """The spend ledger: cost, tokens, $ per 1K requests and $ per 1M tokens, and
        what the cache saved, overall and by model, deployment, tenant and tag."""
        return self.ledger.report()

    def feedback(self, response_id: str, *, score: float | None = None, label: str | None = None) -> None:
        """Record a user's verdict on an answer (``score``, and/or a ``label`` such as
        ``"hallucination"``): it reaches the hooks as a :class:`Feedback` event (metrics,
        a span linked to the call's span, ``stats().counts``)."""
        self._emit(_feedback(response_id, score, label))

    async def aclose(self) -> None:
        """Close every backend (connections, engines). The client is unusable after."""
        if self._closed:
            return
        self._closed = True
        await self._root.aclose()
        if self._owns_ledger and isinstance(self.ledger, RedisLedger):
            await self.ledger.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _feedback(response_id: str, score: float | None, label: str | None) -> Feedback:
    if not isinstance(response_id, str) or not response_id:
        raise InvalidRequestError(f"must be a response id, got {response_id!r}", field="response_id")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or score != score):
        raise InvalidRequestError(f"must be a number, got {score!r}", field="score")
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= 64):
        raise InvalidRequestError("must be a string of 1 to 64 characters", field="label")
    if score is None and label is None:
        raise InvalidRequestError("give a score, a label, or both", field="score")
    return Feedback(response_id, None if score is None else float(score), label)


async def _emit_on_loop(emit: Emitter, event: Feedback) -> None:
    emit(event)


class _TextProgress:
    """A one-line progress bar on stderr, for when tqdm is not installed."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


class _TqdmProgress:
    def __init__(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="llmprod batch")

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _progress_reporter(progress: bool | Callable[[int, int], None], total: int) -> Callable[[int, int], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda done, total: None
    try:
        return _TqdmProgress(total)
    except ImportError:
        return _TextProgress(total)


def _find_layer(root: Backend, kind: type[T]) -> T | None:
    """The first layer of ``kind`` down the stack (each layer keeps the next in ``inner``)."""
    node: object = root
    while node is not None:
        if isinstance(node, kind):
            return node
        node = getattr(node, "inner", None)
    return None


def _shut_down(runner: LoopThread, client: AsyncClient) -> None:
    if runner.running:
        try:
            runner.run(client.aclose())
        finally:
            runner.stop()


def _backends_failed(exc: Exception) -> bool:
    """Whether the backends failed (the last resort may answer), as opposed to a refusal
    the caller must see: bad input, a guard, a budget, access, a local rate limit."""
    if isinstance(exc, RateLimitedError):
        return exc.source == "provider"
    return isinstance(
        exc, ProviderError | AllBackendsFailedError | CircuitOpenError | DeadlineExceededError
    ) or not isinstance(exc, LLMProdError)


def _backstop(request: ChatRequest, grace: float) -> float:
    deadline = request.metadata.deadline
    assert deadline is not None
    return max(deadline - time.monotonic(), 0.0) + grace


def _finished(
    request: ChatRequest,
    stream: bool,
    latency: float,
    default_model: str | None,
    *,
    response: ChatResponse | None = None,
    error: str | None = None,
    ttft: float | None = None,
) -> CallFinished:
    trace = request.trace
    return CallFinished(
        call_id=trace.call_id if trace else "",
        stream=stream,
        latency=latency,
        response=response,
        error=error,
        model=request.model or default_model,
        tenant=request.metadata.tenant,
        tags=request.metadata.tags,
        slo=request.metadata.slo,
        ttft=ttft,
    )


# The per-call keyword arguments: exactly build_request's (the prompt aside).
_REQUEST_ARGS = frozenset(inspect.signature(build_request).parameters) - {"prompt", "unknown"}


class Client:
    """The sync client: the same core as :class:`AsyncClient`, on a loop thread it owns.

    Safe to share between threads, and usable inside a running event loop (a
    notebook). ``close()`` (or ``with``) stops the thread and closes the backends.

    Example::

        with llmprod.Client() as client:
            print(client.chat("hello").text)
            for chunk in client.stream("Write a haiku"):
                print(chunk.text, end="")
    """

    def __init__(
        self, deployments: Backend | Deployment | Sequence[Backend | Deployment] | None = None, **options: Any
    ) -> None:
        self._async = AsyncClient(deployments, **options)
        self._runner = LoopThread()
        # A client that is never closed is still closed when collected or at exit,
        # so its connections are released and no "unclosed session" warning is printed.
        self._finalizer = weakref.finalize(self, _shut_down, self._runner, self._async)

    def __repr__(self) -> str:
        return f"Client([{', '.join(d.label for d in self._async.deployments)}])"

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any], **overrides: Any) -> Client:
        """See :meth:`AsyncClient.from_config`."""
        from .config_file import load_config

        spec = load_config(source)
        return cls(spec.deployments, **{**spec.options, **overrides})

    @property
    def aio(self) -> AsyncClient:
        """The async core, for code that has an event loop of its own."""
        return self._async

    @property
    def hooks(self) -> list[Hook]:
        return self._async.hooks

    def chat(self, prompt: str | None = None, /, **kwargs: Any) -> ChatResponse:
        """See :meth:`AsyncClient.chat`."""
        return self._runner.run(self._async.chat(prompt, **kwargs))

    def stream(self, prompt: str | None = None, /, **kwargs: Any) -> Iterator[ChatChunk]:
        """See :meth:`AsyncClient.stream`; a plain iterator."""
        # Validate now, in the caller's thread, so bad input raises at the call.
        self._async._prepare(prompt, dict(kwargs))
        return self._runner.iterate(self._async.stream(prompt, **kwargs))

    def batch(
        self,
        prompts: Sequence[str | Sequence[Mapping[str, Any]]],
        *,
        concurrency: int = 8,
        progress: bool | Callable[[int, int], None] = False,
        **kwargs: Any,
    ) -> list[ChatResponse | LLMProdError]:
        """See :meth:`AsyncClient.batch`."""
        return self._runner.run(self._async.batch(prompts, concurrency=concurrency, progress=progress, **kwargs))

    def stats(self) -> Stats:
        """See :meth:`AsyncClient.stats`."""
        return self._async.stats()

    def costs(self) -> CostReport:
        """See :meth:`AsyncClient.costs`."""
        return self._async.costs()

    def feedback(self, response_id: str, *, score: float | None = None, label: str | None = None) -> None:
        """See :meth:`AsyncClient.feedback`; the hooks run on the client's loop thread."""
        self._runner.run(_emit_on_loop(self._async._emit, _feedback(response_id, score, label)))

    def close(self) -> None:
        """Close the backends (connections, engines) and stop the loop thread."""
        self._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["AsyncClient", "CacheControl", "Client", "Message"]
