"""vLLM's in-process GPU engine (extra ``llmprod[vllm]``), as a backend.

Supported: vLLM 0.8.5 to 0.33.x, the v1 engine. Written against vLLM's own source
(``vllm/v1/engine/async_llm.py``, ``vllm/sampling_params.py``, ``vllm/outputs.py``,
``vllm/engine/arg_utils.py``) as it stands at 0.33.0; the calls used exist unchanged
across that range:

- ``AsyncEngineArgs(**options)`` -> ``AsyncLLM.from_engine_args(args)`` (v1 engine);
- ``engine.get_tokenizer()`` (a coroutine before 0.10, a plain method since; both
  work) and the tokenizer's ``apply_chat_template(..., tokenize=True)``;
- ``engine.generate({"prompt_token_ids": ids}, SamplingParams(...), request_id)``,
  an async generator of ``RequestOutput`` (``prompt_token_ids``, ``outputs[0]``: a
  ``CompletionOutput`` with ``text``, ``token_ids``, ``finish_reason``;
  ``num_cached_tokens``); ``output_kind=RequestOutputKind.DELTA`` for streams,
  ``FINAL_ONLY`` for whole answers;
- ``await engine.abort(request_id)`` when the caller goes away; ``engine.shutdown()``.

``import vllm`` happens in the constructor (a clear :class:`MissingDependencyError`
when it is absent). The engine itself is built on first use, or by ``await
backend.start()``, inside the event loop that will drive it (its output handler is
an asyncio task bound to that loop); loading weights blocks that loop, so call
``start()`` at startup. Every call goes straight to the engine with no lock, so
concurrent calls meet in vLLM's continuous batching.

The chat template gets the request's ``tools``; vLLM's tool-call parsers live in its
HTTP server, so here a tool call comes back as the model's text.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from .._core.errors import (
    ConfigError,
    InvalidRequestError,
    LLMProdError,
    MissingDependencyError,
    ServerError,
)
from .._core.models import ChatChunk, ChatRequest, ChatResponse, StreamAssembler, Usage, new_id
from ._chat_template import render_prompt
from ._http import status_error

QUANTIZATIONS = ("awq", "gptq", "fp8", "bitsandbytes")


class VLLM:
    """A model served in this process by vLLM's async engine (needs a GPU).

    The options are vLLM's engine arguments for the seed's optimizations:
    ``quantization`` (``"awq"``, ``"gptq"``, ``"fp8"``, ``"bitsandbytes"``),
    ``enable_prefix_caching`` (KV-cache reuse across requests sharing a prefix),
    ``speculative_config`` (a dict as vLLM takes it, e.g. ``{"method": "ngram",
    "num_speculative_tokens": 4, "prompt_lookup_max": 4}`` or ``{"model": "<draft>",
    "num_speculative_tokens": 5}``), tensor and pipeline parallel sizes,
    ``gpu_memory_utilization``, ``max_num_seqs`` (concurrent sequences in a batch),
    ``max_model_len`` and ``dtype``. ``engine_args`` adds any other engine argument
    (and wins over the named ones).

    Example::

        backend = llmprod.VLLM("Qwen/Qwen2.5-0.5B-Instruct", max_model_len=4096)
        async with llmprod.AsyncClient(backend) as client:
            await backend.start()
            r = await client.chat("Hello", max_tokens=64)
    """

    provider = "vllm"  # OpenTelemetry gen_ai.provider.name

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
        self.max_model_len = max_model_len
        self.engine: Any = None
        self._tokenizer: Any = None
        self._starting: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"VLLM(model={self.model!r}, name={self.name!r})"

    async def start(self) -> None:
        """Build the engine and load the model now (otherwise the first call does)."""
        if self.engine is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.engine is not None:
                return
            engine = self._async_llm.from_engine_args(self.engine_args)
            tokenizer = engine.get_tokenizer()
            if inspect.isawaitable(tokenizer):
                tokenizer = await tokenizer
            self._tokenizer = tokenizer
            self.engine = engine

    async def complete(self, request: ChatRequest) -> ChatResponse:
        final: Any = None
        async with aclosing(self._outputs(request, self._kinds.FINAL_ONLY)) as outputs:
            async for output in outputs:
                final = output
        if final is None:
            raise ServerError("the engine returned no output", deployment=self.name)
        completion = final.outputs[0]
        return ChatResponse(
            id=str(final.request_id),
            text=str(completion.text),
            finish_reason=self._finish(completion.finish_reason),
            usage=_usage(final, len(completion.token_ids)),
            model=self.model,
            deployment=self.name,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        assembler = StreamAssembler(model=self.model, deployment=self.name)
        generated = 0
        async with aclosing(self._outputs(request, self._kinds.DELTA)) as outputs:
            async for output in outputs:
                assembler.id = str(output.request_id)
                delta = output.outputs[0]
                generated += len(delta.token_ids)
                if delta.text:
                    assembler.add_text(str(delta.text))
                    yield ChatChunk(text=str(delta.text))
                if output.finished:
                    assembler.finish_reason = self._finish(delta.finish_reason)
                    assembler.usage = _usage(output, generated)
                    yield assembler.final_chunk()
                    return
        raise ServerError("the engine stream ended before the request finished", deployment=self.name)

    async def aclose(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.shutdown()

    async def _outputs(self, request: ChatRequest, kind: Any) -> AsyncGenerator[Any, None]:
        """The engine's ``RequestOutput`` objects for one request; aborts it if left early."""
        await self.start()
        engine = self.engine
        try:
            prompt_ids = await asyncio.to_thread(self._render, request)
        except LLMProdError:
            raise
        except Exception as exc:  # the chat template refused the messages (jinja raises)
            raise InvalidRequestError(f"the chat template failed: {exc}", field="messages") from exc
        params = self._params(request, kind)
        request_id = new_id("vllm")
        outputs = engine.generate({"prompt_token_ids": prompt_ids}, params, request_id)
        finished = False
        try:
            async for output in outputs:
                finished = bool(output.finished)
                yield output
        except LLMProdError:
            raise
        except ValueError as exc:  # vLLM's request validation (VLLMValidationError is one)
            raise status_error(400, str(exc), deployment=self.name) from exc
        except Exception as exc:
            message = f"vLLM engine error: {type(exc).__name__}: {exc}"
            retryable = not isinstance(exc, self._engine_dead)  # a dead engine stays dead
            raise ServerError(message, deployment=self.name, retryable=retryable) from exc
        finally:
            if not finished:  # the caller left (cancelled, or stopped reading): free the sequence now
                await engine.abort(request_id)
            await outputs.aclose()

    def _render(self, request: ChatRequest) -> list[int]:
        return render_prompt(self._tokenizer, request, limit=self.max_model_len, deployment=self.name)

    def _params(self, request: ChatRequest, kind: Any) -> Any:
        # vLLM's own default max_tokens is 16; None means "up to the context limit".
        options: dict[str, Any] = {"max_tokens": request.max_tokens, "output_kind": kind}
        for field in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(request, field)
            if value is not None:
                options[field] = value
        if request.stop:
            options["stop"] = list(request.stop)
        options.update(request.extra_body)  # top_k, min_p, repetition_penalty, ...
        try:
            return self._sampling_params(**options)
        except TypeError as exc:
            raise InvalidRequestError(f"not a vLLM sampling parameter: {exc}", field="extra_body") from exc
        except ValueError as exc:
            raise InvalidRequestError(str(exc), field="sampling") from exc

    def _finish(self, reason: Any) -> str | None:
        if reason == "abort":
            raise ServerError("the engine aborted the request", deployment=self.name)
        return None if reason is None else str(reason)


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


def _usage(output: Any, completion_tokens: int) -> Usage:
    cached = getattr(output, "num_cached_tokens", None)
    return Usage(
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=completion_tokens,
        cached_tokens=int(cached or 0),
    )
