"""The async client: the core. A call goes down the stack the client built once."""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack, cast

from .._core.arguments import CHAT_ARGS, ChatArgs
from .._core.backend import Backend
from .._core.call import Call, complete, stream
from .._core.config import PII, Breaker, Budget, Cache, Guards, RateLimit, Retry, Telemetry, Timeout
from .._core.deployment import Deployment
from .._core.embedding import EMBED_ARGS, EmbedArgs, build_embed_request
from .._core.errors import ClientClosedError, InvalidRequestError, LLMProdError
from .._core.events import Emitter, Feedback, Hook
from .._core.models import ChatChunk, ChatResponse, EmbedResponse
from .._core.option_checks import check_client_options
from .._core.request import build_request
from .._core.stack import Insert, LayerSpec, Site, build_stack, describe, layer_specs
from ..cost._ledger import Ledger, RedisLedger
from ..cost._report import CostReport
from ..layers._routing import SLO_TARGETS, Router
from ..telemetry._stats import Stats, StatsHook
from .options import stack_config
from .progress import progress_reporter

if TYPE_CHECKING:
    from .._safety.access import AccessPolicy
    from ..layers.cache import CacheLayer
    from ..layers.last_resort import FallbackFunction


class AsyncClient:
    """Production LLM calls: retries, breakers, fallbacks, caching, PII, cost, telemetry.

    ``deployments`` is a backend, or a list tried in order (a fallback chain); with
    none, the built-in simulated provider answers. ``fallback`` is the last resort: a
    function of the request and the final error that returns an answer. ``layers``
    puts layers of your own in the stack (:class:`llmprod.layers.Insert`).
    ``redis_url`` shares state between processes and hosts through one Redis (the
    ``redis`` extra): it fills the ``redis_url`` of the breaker, cache, budget and rate
    limit configs that do not name their own, and the spend ledger's totals go there
    too (``await client.ledger.areport()`` reads every process's). It turns no layer on.
    ``resume=True`` continues a stream that broke after its first chunk, where the
    deployment can continue an answer (``llmprod.layers.resume``), instead of raising
    :class:`StreamInterruptedError`.

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
        layers: Sequence[Insert] = (),
        resume: bool = False,
    ) -> None:
        check_client_options({"hooks": hooks})
        self.deployments, self.config = stack_config(
            deployments,
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
            fallback=fallback,
            redis_url=redis_url,
            layers=layers,
            resume=resume,
        )
        telemetry = self.config.telemetry
        self._slo_targets = router.slo_targets if router is not None else SLO_TARGETS
        self._stats = StatsHook(window=telemetry.stats_window, slo_targets=self._slo_targets)
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
        self.specs: list[LayerSpec] = layer_specs(self.config, self.deployments)
        site = Site(self.config, self._emit, self.deployments)
        self._root = build_stack(self.specs, site)
        self._cache: CacheLayer | None = site.built.get("cache")  # type: ignore[assignment]
        self._closed = False
        self._inflight: dict[asyncio.Task[Any], int] = {}  # tasks inside a call, and how many
        self._closing: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # cancelled by aclose
        self._left: asyncio.Event | None = None  # set when a call leaves, while closing
        self.metrics_server: Any = None  # set by from_config when the file starts one

    def __repr__(self) -> str:
        names = ", ".join(d.label for d in self.deployments)
        return f"{type(self).__name__}([{names}])"

    def describe(self) -> str:
        """The stack this client built, outer to inner, and its deployments."""
        return describe(self.specs, self.deployments)

    def _repr_html_(self) -> str:
        from .._core.display import preformatted

        return preformatted(repr(self) + "\n" + self.describe())

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any], **overrides: Any) -> AsyncClient:
        """Build a client from a TOML/YAML/JSON file or a dict (see the configuration docs).

        ``overrides`` are client keyword arguments that win over the file (hooks, fallback).
        A ``[prometheus] port`` in the file starts the process's metrics endpoint once:
        ``client.metrics_server`` is it (it serves every client of the process).
        """
        from .config_file import load_config

        spec = load_config(source)
        client = cls(spec.deployments, **{**spec.options, **overrides})
        client.metrics_server = spec.metrics_server
        return client

    @property
    def hooks(self) -> list[Hook]:
        """The hooks that receive every event; append to add one."""
        return self._emit.hooks

    def prepare(self, prompt: str | None, kwargs: Mapping[str, Any], *, stream: bool) -> Call:
        """Validate a call's arguments (raising :class:`InvalidRequestError`) and build it."""
        if self._closed:
            raise ClientClosedError("this client is closed")
        known = {k: v for k, v in kwargs.items() if k in CHAT_ARGS}
        timeout = known.pop("timeout", None)
        unknown = {k: v for k, v in kwargs.items() if k not in CHAT_ARGS}
        request = build_request(prompt, **known, unknown=unknown)
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise InvalidRequestError(f"must be a positive number of seconds, got {timeout!r}", field="timeout")
        slo = request.metadata.slo
        if slo is not None and slo not in self._slo_targets:
            raise InvalidRequestError(f"unknown SLO class; expected one of {sorted(self._slo_targets)}", field="slo")
        if timeout is not None:
            total = float(timeout)
        elif slo is not None:
            total = self._slo_targets[slo]
        else:
            total = self.config.timeout.total
        return Call(request, stream=stream, timeout=total)

    async def chat(self, prompt: str | None = None, /, **kwargs: Unpack[ChatArgs]) -> ChatResponse:
        """Send one chat request and return the whole answer.

        Takes a prompt string, or ``messages=[{"role": ..., "content": ...}, ...]``, and
        the arguments of :class:`~llmprod._core.arguments.ChatArgs`: the sampling
        parameters (``model``, ``max_tokens``, ``temperature``, ``top_p``, ``stop``,
        ``seed``, ``tools``, ...; provider-specific fields in ``extra_body``) and, per
        call, ``timeout`` (the overall deadline, seconds), ``tenant``, ``api_key``,
        ``tags``, ``cache`` (a ``CacheControl``), ``slo``, ``region``, ``tier``.
        """
        return await self._complete(self.prepare(prompt, kwargs, stream=False))

    def stream(self, prompt: str | None = None, /, **kwargs: Unpack[ChatArgs]) -> AsyncIterator[ChatChunk]:
        """Stream the answer chunk by chunk; takes the same arguments as :meth:`chat`.

        Bad input raises here, at the call. The last chunk carries ``finish_reason``,
        ``usage`` and the assembled ``response`` (with its cost and attempt log, as
        :meth:`chat` would return it). Retries and fallbacks act only before the first
        chunk; a failure after it raises :class:`StreamInterruptedError` with the text
        received so far (an output guard's block raises :class:`OutputRejectedError`).
        """
        return self._stream(self.prepare(prompt, kwargs, stream=True))

    # A call in flight runs in its caller's task, which ``aclose`` cancels (and only
    # while the task is inside the call): the call then ends with ClientClosedError.
    async def _complete(self, call: Call) -> ChatResponse:
        with self._inside():
            return await complete(self._root, call)

    async def _stream(self, call: Call) -> AsyncIterator[ChatChunk]:
        chunks = stream(self._root, call)
        try:
            while True:
                with self._inside():
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        return
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]  # an async generator

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        """The caller's task is inside a call while this is open: ``aclose`` may cancel it."""
        task = self._enter()
        try:
            yield
        except asyncio.CancelledError:
            if self._cancelled_by_close(task):
                raise _closed_in_flight() from None
            raise
        finally:
            self._leave(task)

    def _enter(self) -> asyncio.Task[Any] | None:
        if self._closed:
            raise ClientClosedError("this client is closed")
        task = asyncio.current_task()
        if task is not None:
            self._inflight[task] = self._inflight.get(task, 0) + 1
        return task

    def _leave(self, task: asyncio.Task[Any] | None) -> None:
        if task is None:
            return
        left = self._inflight.pop(task, 1) - 1
        if left:
            self._inflight[task] = left
        elif self._left is not None:
            self._left.set()

    def _cancelled_by_close(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether ``aclose`` cancelled ``task`` (and nobody else did): its cancellation
        is then undone and the call raises ClientClosedError instead."""
        if task is None or task not in self._closing:
            return False
        self._closing.discard(task)
        return task.uncancel() == 0

    def prepare_embed(self, input: str | Sequence[str], kwargs: Mapping[str, Any]) -> Call:
        """Validate ``embed``'s arguments (raising :class:`InvalidRequestError`) and build the call."""
        if self._closed:
            raise ClientClosedError("this client is closed")
        known = {k: v for k, v in kwargs.items() if k in EMBED_ARGS}
        timeout = known.pop("timeout", None)
        request = build_embed_request(input, **known, unknown={k: v for k, v in kwargs.items() if k not in EMBED_ARGS})
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
            raise InvalidRequestError(f"must be a positive number of seconds, got {timeout!r}", field="timeout")
        slo = request.metadata.slo
        if slo is not None and slo not in self._slo_targets:
            raise InvalidRequestError(f"unknown SLO class; expected one of {sorted(self._slo_targets)}", field="slo")
        total = float(timeout) if timeout is not None else self._slo_targets[slo] if slo else self.config.timeout.total
        return Call(request, timeout=total, operation="embed")

    async def embed(self, input: str | Sequence[str], /, **kwargs: Unpack[EmbedArgs]) -> EmbedResponse:
        """Embed a string or a list of strings: ``response.vectors[i]`` is input ``i``'s.

        The call goes through the same stack as a chat call: retries, breakers,
        fallbacks, PII redaction of the inputs, the cache (embeddings are deterministic,
        so they are cached whatever the temperature rules), cost (input tokens) and
        telemetry. A deployment whose provider has no embeddings raises
        :class:`~llmprod.errors.UnsupportedOperationError` (a fallback chain moves on).
        Takes ``model``, ``dimensions``, ``extra_body`` and the per-call arguments of
        :meth:`chat` (``timeout``, ``tenant``, ``tags``, ``cache``, ...).
        """
        return cast(EmbedResponse, await self._complete(self.prepare_embed(input, kwargs)))

    async def batch(
        self,
        prompts: Sequence[str | Sequence[Mapping[str, Any]]],
        *,
        concurrency: int = 8,
        progress: bool | Callable[[int, int], None] = False,
        **kwargs: Unpack[ChatArgs],
    ) -> list[ChatResponse | LLMProdError]:
        """Answer many prompts, at most ``concurrency`` at a time, in order.

        A prompt is a string or a list of messages. A failed item's place holds its
        error instead of failing the whole batch. ``progress=True`` shows a progress bar
        (tqdm's when installed, in notebooks too); a callable receives ``(done, total)``.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidRequestError(f"must be an integer >= 1, got {concurrency!r}", field="concurrency")
        gate = asyncio.Semaphore(concurrency)
        report = progress_reporter(progress, len(prompts))
        done = 0

        async def one(item: str | Sequence[Mapping[str, Any]]) -> ChatResponse | LLMProdError:
            nonlocal done
            async with gate:
                try:
                    if isinstance(item, str):
                        return await self.chat(item, **kwargs)
                    call = self.prepare(None, {**kwargs, "messages": item}, stream=False)
                    return await self._complete(call)
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
        self._emit(feedback_event(response_id, score, label))

    async def start(self) -> None:
        """Start every backend that has something to start (an in-process engine loads
        its model), so that the first call does not pay for it within its deadline.
        Optional: a backend not started starts on its first call."""
        for deployment in self.deployments:
            for replica in deployment.replicas:
                start = getattr(replica, "start", None)
                if start is not None:
                    await start()

    async def aclose(self) -> None:
        """End the calls in flight (:class:`ClientClosedError`), then close every backend
        (connections, engines). The client is unusable after."""
        if self._closed:
            return
        self._closed = True
        await self._end_calls_in_flight()
        await self._root.aclose()
        if self._owns_ledger and isinstance(self.ledger, RedisLedger):
            await self.ledger.aclose()

    async def _end_calls_in_flight(self) -> None:
        """Cancel the tasks inside a call on this loop, and wait until they left it (their
        connections released): the backends close only after."""
        loop = asyncio.get_running_loop()
        here = [t for t in self._inflight if t.get_loop() is loop and t is not asyncio.current_task()]
        if not here:
            return
        self._closing.update(here)
        for task in here:
            task.cancel()
        self._left = asyncio.Event()
        # Bounded: a call that swallows its cancellation must not block the close.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                while any(t in self._inflight for t in here):
                    await self._left.wait()
                    self._left.clear()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _closed_in_flight() -> ClientClosedError:
    return ClientClosedError("the client was closed while this call was in flight")


def feedback_event(response_id: str, score: float | None, label: str | None) -> Feedback:
    if not isinstance(response_id, str) or not response_id:
        raise InvalidRequestError("must be a response id (a non-empty string)", field="response_id")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or score != score):
        raise InvalidRequestError(f"must be a number, got {type(score).__name__}", field="score")
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= 64):
        raise InvalidRequestError("must be a string of 1 to 64 characters", field="label")
    if score is None and label is None:
        raise InvalidRequestError("give a score, a label, or both", field="score")
    return Feedback(response_id, None if score is None else float(score), label)
