"""A Hugging Face transformers model run in this process, on CPU or GPU (extra ``llmprod[transformers]``).

    pip install torch==2.13.0 'llmprod[transformers]'   # pin torch in the same call: a CPU build stays one

The same engine plumbing as the vLLM backend: the blocking engine runs on its own
thread (:mod:`._hf_engine`), text is pushed from that thread onto the caller's event
loop as it is generated, a caller that goes away marks its request cancelled and the
generating loop drops it at the next token, the chat template comes from the
tokenizer, and usage is counted in tokens.

What it implements itself, where transformers' ``generate()`` has no server loop:

- **continuous batching**: up to ``max_batch_size`` requests generate together, one
  forward pass per token for all of them, each with its own sampling, ``max_tokens``,
  stop strings and stream; a request that arrives while others generate joins them at
  the next step (its prompt prefilled, its KV cache joined to theirs, left-padded and
  masked), and a finished one leaves at once, freeing its slot;
- **int8 weights** (``quantization="int8"``): torch's dynamic quantization of every
  ``Linear`` layer, on CPU only (torch has no such kernels for CUDA; on a GPU use
  :class:`~llmprod.backends.vllm.VLLM` with ``quantization=``);
- **assisted (speculative) decoding** (``draft_model=``): a small model that shares
  the tokenizer proposes tokens and the model checks them in one pass; transformers
  runs it for one sequence at a time, so this mode does not batch.

Importing this module imports neither torch nor transformers (nor httpx): the
constructor does, so ``scripts/gpu_check.py`` can use it without llmprod's other
dependencies.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import AsyncGenerator, AsyncIterator
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
from ._chat_template import checked, render_prompt, renders_fast
from ._continuation import Resume, Transcript, Transcripts, sampling_options
from ._hf_engine import Engine, EngineStats, Event, Job

DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "float16", "bfloat16", "auto")
QUANTIZATIONS = ("int8",)


class Transformers:
    """A causal language model loaded with transformers and generated in this process.

    ``model`` is a local folder or a Hub name (set ``HF_HUB_OFFLINE=1`` to never
    download). ``device`` is ``"cpu"``, ``"cuda"`` (or ``"cuda:1"``) or ``"auto"``;
    ``dtype`` None picks float32 on CPU and bfloat16 (float16 where unsupported) on a
    GPU. ``max_batch_size`` is the most requests generating at once (1 generates one
    request at a time); ``batch_window_ms`` is how long the first request to reach an idle
    engine waits for others, so that a burst is prefilled in one pass (once the engine is
    generating, a new request joins at the next step without waiting). ``quantization="int8"``
    quantizes the weights (CPU only). ``draft_model`` turns on assisted decoding.
    ``max_new_tokens_default`` applies when a request sets no ``max_tokens``.
    ``threads`` sets torch's CPU threads (process-wide). ``stats`` counts batches and
    forward passes.

    Example::

        backend = llmprod.Transformers("Qwen/Qwen2.5-0.5B-Instruct", device="auto")
        async with llmprod.AsyncClient(backend) as client:
            await backend.start()   # load the weights now, not on the first call
            r = await client.chat("Hello", max_tokens=64)
    """

    provider = "transformers"  # OpenTelemetry gen_ai.provider.name
    continues = True  # a broken stream can be resumed (resume=True): see continuation()

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        dtype: str | None = None,
        max_batch_size: int = 32,
        batch_window_ms: float = 5.0,
        quantization: str | None = None,
        draft_model: str | None = None,
        max_new_tokens_default: int = 256,
        name: str | None = None,
        threads: int | None = None,
        region: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"must be a model folder or name, got {model!r}", path="transformers.model")
        _check_options(device, dtype, quantization, max_batch_size, batch_window_ms, max_new_tokens_default, threads)
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise MissingDependencyError(exc.name or "transformers", "transformers") from exc
        self._torch: Any = torch
        self._transformers: Any = transformers
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if quantization == "int8" and device != "cpu":
            raise ConfigError(
                "int8 here is torch's dynamic quantization, which runs on CPU only; on a GPU use "
                "the VLLM backend with quantization= (or a pre-quantized model)",
                path="transformers.quantization",
            )
        self.model = model
        self.device = device
        self.dtype = dtype
        self.quantization = quantization
        self.draft_model = draft_model
        self.max_batch_size = 1 if draft_model else max_batch_size
        self.batch_window = batch_window_ms / 1000
        self.max_new_tokens_default = max_new_tokens_default
        self.threads = threads
        self.name = name or f"transformers:{os.path.basename(model.rstrip('/')) or model}"
        self.region = region
        self.engine: Engine | None = None
        self._tokenizer: Any = None
        self._max_positions: int | None = None
        self._starting: asyncio.Lock | None = None
        self._transcripts = Transcripts()

    def __repr__(self) -> str:
        return f"Transformers(model={self.model!r}, device={self.device!r}, name={self.name!r})"

    @property
    def stats(self) -> EngineStats:
        """What the engine did so far (all zero before :meth:`start`)."""
        return self.engine.stats if self.engine is not None else EngineStats()

    async def start(self) -> None:
        """Load the model and start the generating thread now (otherwise the first call does)."""
        if self.engine is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.engine is None:
                engine = await asyncio.to_thread(self._load)
                engine.start()
                self.engine = engine

    def _load(self) -> Engine:
        torch, transformers = self._torch, self._transformers
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        dtype = _torch_dtype(torch, self.dtype, self.device)
        tokenizer = transformers.AutoTokenizer.from_pretrained(self.model)
        model = self._load_model(self.model, dtype)
        if self.quantization == "int8":
            with warnings.catch_warnings():  # torch.ao.quantization is deprecated, still shipped and working
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        draft = self._load_model(self.draft_model, dtype) if self.draft_model else None
        eos = _eos_ids(model.generation_config.eos_token_id, tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
        self._tokenizer = tokenizer
        self._max_positions = getattr(model.config, "max_position_embeddings", None)
        return Engine(
            torch=torch,
            model=model,
            tokenizer=tokenizer,
            device=self.device,
            eos_ids=eos,
            pad_id=int(pad),
            max_batch_size=self.max_batch_size,
            batch_window=self.batch_window,
            draft=draft,
            name=self.name,
        )

    def _load_model(self, path: str, dtype: Any) -> Any:
        model = self._transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        return model.to(self.device).eval()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        parts: list[str] = []
        request_id = new_id("hf")
        async with aclosing(self._events(request, stream=False)) as events:
            async for event in events:
                if event[0] == "text":
                    parts.append(event[1])
                else:
                    _, reason, usage = event
                    return ChatResponse(
                        id=request_id,
                        text="".join(parts),
                        finish_reason=reason,
                        usage=usage,
                        model=self.model,
                        deployment=self.name,
                    )
        raise ServerError("the engine ended the request without an answer", deployment=self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        assembler = StreamAssembler(model=self.model, deployment=self.name, id=new_id("hf"))
        transcript = Transcript(request)
        ended = False
        try:
            async with aclosing(self._events(request, stream=True, transcript=transcript)) as events:
                async for event in events:
                    if event[0] == "text":
                        assembler.add_text(event[1])
                        transcript.add(event[1], event[2])
                        yield ChatChunk(text=event[1])
                    else:
                        _, assembler.finish_reason, assembler.usage = event
                        ended = True
                        yield assembler.final_chunk()
                        return
        finally:
            if not ended:  # broken before its end: kept for a continuation
                self._transcripts.keep(transcript)
        raise ServerError("the engine ended the stream before the request finished", deployment=self.name)

    def continuation(self, request: ChatRequest, text: str) -> ChatRequest:
        """``request`` asking the model to continue its answer from ``text`` (see
        :mod:`._continuation`). For a stream of this backend that broke, the engine
        continues from the tokens it generated, and ``max_tokens`` is what that stream
        had left."""
        return self._transcripts.continuation(request, text, self._tokenizer)

    async def aclose(self) -> None:
        """Stop the generating thread (in-flight calls fail) and free the model."""
        engine, self.engine = self.engine, None
        if engine is not None:
            await asyncio.to_thread(engine.close)
            if self.device.startswith("cuda"):
                self._torch.cuda.empty_cache()

    async def _events(
        self, request: ChatRequest, *, stream: bool, transcript: Transcript | None = None
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """("text", delta, tokens so far) events (one, at the end, unless ``stream``), then
        ("done", finish_reason, Usage); cancels the job if left early. ``transcript`` gets
        the prompt and the generated tokens."""
        await self.start()
        engine = self.engine
        if engine is None:
            raise ServerError("the engine is shut down", deployment=self.name, retryable=False)
        found = self._resume(request)
        try:
            if found is not None:
                prompt = checked(found.prompt, limit=self._max_positions, deployment=self.name)
            elif renders_fast(request):  # a chat template over a short prompt takes ~0.1 ms: less than a thread hop
                prompt = self._render(request)
            else:
                prompt = await asyncio.to_thread(self._render, request)
        except LLMProdError:
            raise
        except Exception as exc:  # the chat template refused the messages (jinja raises)
            raise InvalidRequestError(f"the chat template failed: {exc}", field="messages") from exc
        if found is not None and found.spent:  # the answer had all its tokens; only its end was lost
            yield ("done", "length", Usage(prompt_tokens=len(prompt), completion_tokens=0))
            return
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def deliver(event: Event) -> None:  # an error before the job reached the engine's loop
            events.put_nowait(event)

        job = self._job(request, prompt, deliver)
        job.stream, job.loop, job.put = stream, loop, events.put_nowait
        if transcript is not None:
            transcript.prompt, transcript.ids, transcript.budget = prompt, job.tokens, job.max_new_tokens
        finished = False
        engine.submit(job)
        try:
            while True:
                event = await events.get()
                if event[0] == "error":
                    finished = True
                    message = f"transformers engine error: {event[1]}"
                    raise ServerError(message, deployment=self.name, retryable=bool(event[2]))
                if event[0] == "done":
                    finished = True
                    usage = Usage(prompt_tokens=len(prompt), completion_tokens=int(event[2]))
                    yield ("done", event[1], usage)
                    return
                yield event
        finally:
            if not finished:  # the caller left (cancelled, or stopped reading): stop generating it
                job.cancelled = True

    def _job(self, request: ChatRequest, prompt: list[int], deliver: Any) -> Job:
        extra = sampling_options(request)  # the chat template's flags are no sampling parameters
        if extra:
            raise InvalidRequestError(
                f"the transformers backend takes no extra sampling parameters, got {sorted(extra)}",
                field="extra_body",
            )
        if request.temperature is not None and request.temperature < 0:
            raise InvalidRequestError("must be >= 0", field="temperature")
        if request.top_p is not None and not 0 < request.top_p <= 1:
            raise InvalidRequestError("must be within (0, 1]", field="top_p")
        wanted = request.max_tokens if request.max_tokens is not None else self.max_new_tokens_default
        if wanted < 1:
            raise InvalidRequestError("must be >= 1", field="max_tokens")
        room = wanted if self._max_positions is None else self._max_positions - len(prompt)
        return Job(
            prompt=prompt,
            max_new_tokens=min(wanted, room),
            deliver=deliver,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stop=tuple(request.stop or ()),
        )

    def _render(self, request: ChatRequest) -> list[int]:
        return render_prompt(self._tokenizer, request, limit=self._max_positions, deployment=self.name)

    def _resume(self, request: ChatRequest) -> Resume | None:
        """The tokens a continuation of a broken stream of this engine starts from."""
        return self._transcripts.resume(request, self._tokenizer)


def _check_options(
    device: str,
    dtype: str | None,
    quantization: str | None,
    max_batch_size: int,
    batch_window_ms: float,
    max_new_tokens_default: int,
    threads: int | None,
) -> None:
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"must be one of {DEVICES} or 'cuda:N', got {device!r}", path="transformers.device")
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"must be one of {DTYPES}, got {dtype!r}", path="transformers.dtype")
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ConfigError(f"must be one of {QUANTIZATIONS}, got {quantization!r}", path="transformers.quantization")
    for option, value in (
        ("max_batch_size", max_batch_size),
        ("max_new_tokens_default", max_new_tokens_default),
        ("threads", 1 if threads is None else threads),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"must be an integer >= 1, got {value!r}", path=f"transformers.{option}")
    if not 0 <= batch_window_ms <= 10_000:
        raise ConfigError(f"must be within [0, 10000], got {batch_window_ms!r}", path="transformers.batch_window_ms")


def _torch_dtype(torch: Any, dtype: str | None, device: str) -> Any:
    if dtype not in (None, "auto"):
        return getattr(torch, dtype)
    if device == "cpu":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _eos_ids(*values: Any) -> list[int]:
    ids: list[int] = []
    for value in values:
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None and int(item) not in ids:
                ids.append(int(item))
    return ids
