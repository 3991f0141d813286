"""``AsyncLLM``: the v1 async engine's client API (vLLM 0.33.0), generating stand-in words."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import RequestOutputKind, SamplingParams
from vllm.v1.engine.exceptions import EngineDeadError

_WORDS = ("paged", "attention", "batches", "tokens", "continuously", "while", "prefix", "caches", "stay", "warm")
_BLOCK = 16  # KV-cache block size: prefix hits are counted in whole blocks
_DEFAULT_MAX_MODEL_LEN = 4096


class StandInTokenizer:
    """A word-level tokenizer with a chat template: ``<|role|>`` headers, one id a word."""

    def __init__(self) -> None:
        self.rendered: list[str] = []  # every chat template output, for assertions
        self.tools: list[Any] = []

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = [zlib.crc32(word.encode()) % 32000 + 3 for word in text.split()]
        return [1, *ids] if add_special_tokens else ids

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(f"t{i}" for i in ids)

    def apply_chat_template(
        self,
        conversation: list[Mapping[str, Any]],
        tools: list[Any] | None = None,
        add_generation_prompt: bool = False,
        tokenize: bool = True,
        **kwargs: Any,
    ) -> str | list[int]:
        parts = [f"<|{m['role']}|> {m.get('content') or ''}" for m in conversation]
        if add_generation_prompt:
            parts.append("<|assistant|>")
        text = " ".join(parts)
        self.rendered.append(text)
        self.tools.append(tools)
        return self.encode(text) if tokenize else text


@dataclass(frozen=True)
class SeenRequest:
    request_id: str
    prompt_token_ids: list[int]
    params: SamplingParams


class AsyncLLM:
    """An asynchronous wrapper for the (stand-in) engine."""

    instances: ClassVar[list[AsyncLLM]] = []

    def __init__(self, engine_args: AsyncEngineArgs) -> None:
        self.engine_args = engine_args
        self.tokenizer = StandInTokenizer()
        self.requests: list[SeenRequest] = []
        self.in_flight: set[str] = set()
        self.max_in_flight = 0
        self.aborted: list[str] = []  # requests stopped by an abort while running
        self.abort_calls: list[tuple[str, bool]] = []  # every abort(request_id, internal)
        self.shut_down = False
        self.gate = asyncio.Event()
        self.gate.set()
        self.step_delay = 0.0
        self.answer_words = 12  # the "EOS" comes after this many tokens
        self._prompts: list[list[int]] = []
        self._abort_now: set[str] = set()
        AsyncLLM.instances.append(self)

    @classmethod
    def from_engine_args(
        cls,
        engine_args: AsyncEngineArgs,
        start_engine_loop: bool = True,
        usage_context: Any = None,
        stat_loggers: Any = None,
    ) -> AsyncLLM:
        """Create an AsyncLLM from the EngineArgs."""
        if engine_args.max_num_seqs is not None and engine_args.max_num_seqs < 1:
            raise ValueError("max_num_seqs must be at least 1")
        return cls(engine_args)

    def get_tokenizer(self) -> StandInTokenizer:
        return self.tokenizer

    @property
    def max_model_len(self) -> int:
        return self.engine_args.max_model_len or _DEFAULT_MAX_MODEL_LEN

    async def generate(
        self,
        prompt: str | Mapping[str, Any],
        sampling_params: SamplingParams,
        request_id: str,
        *,
        lora_request: Any = None,
        trace_headers: Any = None,
        priority: int = 0,
    ) -> AsyncGenerator[RequestOutput, None]:
        """Add a request and yield its outputs until it finishes (or is aborted)."""
        if self.shut_down:
            raise EngineDeadError()
        if request_id in self.in_flight:
            raise ValueError(f"Request id {request_id} already running.")
        ids = list(prompt["prompt_token_ids"]) if isinstance(prompt, Mapping) else self.tokenizer.encode(prompt)
        if len(ids) > self.max_model_len:
            raise ValueError(
                f"The decoder prompt (length {len(ids)}) is longer than the maximum model length of "
                f"{self.max_model_len}. Make sure that `max_model_len` is no smaller than the number of text tokens."
            )
        self.requests.append(SeenRequest(request_id, ids, sampling_params))
        cached = self._cached_prefix(ids)
        self.in_flight.add(request_id)
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
        try:
            await self.gate.wait()
            async for output in self._run(request_id, ids, sampling_params, cached):
                yield output
        except (asyncio.CancelledError, GeneratorExit):
            await self.abort(request_id, internal=True)
            raise
        finally:
            self.in_flight.discard(request_id)

    async def _run(
        self, request_id: str, ids: list[int], params: SamplingParams, cached: int
    ) -> AsyncGenerator[RequestOutput, None]:
        budget = self.max_model_len - len(ids)
        limit = min(params.max_tokens if params.max_tokens is not None else budget, budget)
        start = zlib.crc32(bytes(i % 256 for i in ids))
        text, token_ids = "", []
        sent_text, sent_ids = 0, 0
        finish: str | None = None
        stop_reason: str | None = None
        while finish is None:
            await asyncio.sleep(self.step_delay)
            if request_id in self._abort_now:
                finish = "abort"
                break
            word = _WORDS[(start + len(token_ids)) % len(_WORDS)]
            text += (" " if text else "") + word
            token_ids.append(zlib.crc32(word.encode()) % 32000 + 3)
            for stop in params.stop or ():
                if stop in text:
                    text, finish, stop_reason = text[: text.index(stop)], "stop", stop
            if finish is None and len(token_ids) >= self.answer_words:
                finish = "stop"
            elif finish is None and len(token_ids) >= limit:
                finish = "length"
            if params.output_kind is RequestOutputKind.FINAL_ONLY and finish is None:
                continue
            if params.output_kind is RequestOutputKind.DELTA:
                piece, new_ids = text[sent_text:], token_ids[sent_ids:]
                sent_text, sent_ids = len(text), len(token_ids)
            else:
                piece, new_ids = text, list(token_ids)
            yield self._output(request_id, ids, piece, new_ids, finish, stop_reason, cached)
        if finish == "abort":
            yield self._output(request_id, ids, "", [], finish, None, cached)

    def _output(
        self,
        request_id: str,
        ids: list[int],
        text: str,
        token_ids: list[int],
        finish: str | None,
        stop_reason: str | None,
        cached: int,
    ) -> RequestOutput:
        completion = CompletionOutput(0, text, token_ids, None, None, finish, stop_reason)
        return RequestOutput(request_id, None, ids, None, [completion], finish is not None, num_cached_tokens=cached)

    def _cached_prefix(self, ids: list[int]) -> int:
        best = 0
        if self.engine_args.enable_prefix_caching:
            for seen in self._prompts:
                shared = 0
                for a, b in zip(seen, ids, strict=False):
                    if a != b:
                        break
                    shared += 1
                best = max(best, shared)
        self._prompts.append(ids)
        return (min(best, len(ids) - 1) // _BLOCK) * _BLOCK

    async def abort(self, request_id: str | Iterable[str], internal: bool = False) -> None:
        """Abort requests; ids that are not running are ignored, as in vLLM."""
        ids = [request_id] if isinstance(request_id, str) else list(request_id)
        for rid in ids:
            self.abort_calls.append((rid, internal))
            if rid in self.in_flight and rid not in self._abort_now:
                self._abort_now.add(rid)
                self.aborted.append(rid)

    def shutdown(self, timeout: float | None = None) -> None:
        """Shut down, cleaning up the background process and IPC."""
        self.shut_down = True
