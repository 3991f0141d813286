"""Resume: a stream that breaks after chunks reached the caller is continued, not lost.

Opt in with ``AsyncClient(resume=True)``. When a deployment's stream breaks after its
first chunk — the connection drops, a stall outlasts the idle timeout, an error event
or a malformed frame arrives — and the deployment can continue an assistant message,
this layer asks it again, through the layers below (retry, balance, breaker, attempt),
to continue from the text it had sent, and hands the rest on: the caller sees one
stream. Its final response carries the whole text, the usage of every part (a broken
part's counted locally, so ``estimated``), and every attempt in its log.

A backend that can continue says so (``continues = True``) and builds the request
(``continuation(request, text) -> ChatRequest | None``): vLLM's server and other
OpenAI-compatible servers with ``continue_final_message``, Anthropic's assistant
prefill, the in-process engines (``VLLM``, ``Transformers``: the chat template's
``continue_final_message``, from the tokens the engine generated). The text it gets
has no trailing whitespace (tokenizers begin words with their space; Anthropic refuses
a prefill that ends in one): the continuation usually begins with that whitespace,
which the caller already has, so it is dropped. The request's ``max_tokens`` is
lowered by a local count of the tokens already generated.

The layer sits per deployment, above retry: a continuation goes to the same deployment
(the same model, so a greedy answer joins exactly), is retried like any call and bound
by the call's deadline. Above it, the cost layer bills the parts together, the cache
stores only the joined answer, and PII and the output guard see the joined text. A
stream with tool calls is not resumed, nor one broken by the deadline, a caller's
error or a cancellation. A continuation that the retries below could not open is tried
again (after the provider's Retry-After, if it gave one) while the call has time and
resumes left (:data:`MAX_RESUMES`). When no continuation comes, the stream ends with
:class:`StreamInterruptedError`, as it would without this layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Protocol

from .._core.call import Call, Layer, Opened, attempts_of
from .._core.errors import MalformedResponseError, ProviderConnectionError, is_retryable
from .._core.events import Emit, StreamResumed
from .._core.models import AttemptRecord, ChatChunk, ChatRequest, Usage
from ..cost._tokens import count_request, count_text

log = logging.getLogger("llmprod")
MAX_RESUMES = 8  # per call, continuations that broke or failed to open: bounds a flapping server


class Continues(Protocol):
    """A backend that can continue an answer it had begun."""

    continues: bool

    def continuation(self, request: ChatRequest, text: str) -> ChatRequest | None:
        """``request`` asking for the rest of an answer that begins with ``text``."""
        ...


def can_continue(backend: object) -> bool:
    return bool(getattr(backend, "continues", False)) and callable(getattr(backend, "continuation", None))


def resumable(exc: BaseException) -> bool:
    """Whether a stream broken by ``exc`` may be continued: a provider's fault, not the
    deadline, a caller's error, an open breaker or a cancellation."""
    return is_retryable(exc) or isinstance(exc, MalformedResponseError)


class _Part:
    """One request's stream: the original, or a continuation."""

    __slots__ = ("first", "generated", "known", "opened", "request")

    def __init__(self, opened: Opened, request: ChatRequest, *, known: int, first: ChatChunk | None) -> None:
        self.opened = opened
        self.request = request
        self.known = known  # attempts already reported on the caller's call when it opened
        self.first = first  # a first chunk still to hand on
        self.generated: list[str] = []


class _State:
    __slots__ = ("attempts", "call", "part", "resumes", "sent", "skip", "spent", "tools")

    def __init__(self, call: Call, part: _Part) -> None:
        self.call = call
        self.part = part
        self.sent: list[str] = []  # the text handed on, every part together
        self.skip = ""  # whitespace the caller has and the continuation will repeat
        self.tools = False
        self.resumes = 0
        self.attempts: list[AttemptRecord] = []
        self.spent: list[Usage] = []  # the broken parts' usage, counted locally


class ResumeLayer(Layer):
    """Continues one deployment's broken streams (see the module docstring)."""

    def __init__(self, inner: Layer, backend: Continues, *, deployment: str, emit: Emit | None = None) -> None:
        super().__init__(inner)
        self.backend = backend
        self.deployment = deployment
        self.emit = emit

    async def open(self, call: Call) -> Opened:
        opened = await self.inner.open(call)
        first = opened.first
        if not call.stream or call.operation != "chat" or first is None or first.response is not None:
            return opened  # a whole answer, or a stream of another API (Responses): as it is
        state = _State(call, _Part(opened, call.request, known=len(opened.attempts), first=None))
        _note(state, first)
        outer = Opened(first=first)
        outer.attempts = opened.attempts
        outer.rest = self._chunks(state)
        outer.on_close(self, state)
        return outer

    async def _chunks(self, state: _State) -> AsyncIterator[ChatChunk]:
        try:
            while True:
                try:
                    while True:
                        chunk = await self._next(state.part)
                        passed = _passed(state, chunk)
                        if passed is not None:
                            yield passed
                        if chunk.response is not None:
                            return
                except Exception as exc:
                    if not resumable(exc) or state.tools or state.resumes >= MAX_RESUMES:
                        raise
                    await self._continue(state, exc)
        finally:
            await _aclose(state.part.opened.rest)

    async def _next(self, part: _Part) -> ChatChunk:
        if part.first is not None:
            first, part.first = part.first, None
            return first
        try:
            if part.opened.rest is not None:
                return await anext(part.opened.rest)
        except StopAsyncIteration:
            pass
        raise ProviderConnectionError("the stream ended before its final chunk", deployment=self.deployment)

    async def _continue(self, state: _State, exc: Exception) -> None:
        """Finish the broken part and open its continuation (or raise ``exc``)."""
        part = state.part
        await _aclose(part.opened.rest)
        await part.opened.close_quietly(exc)
        state.attempts += part.opened.attempts[part.known :]
        model = part.request.model or ""
        generated = count_text("".join(part.generated), model)
        prompt = count_request(part.request)
        state.spent.append(Usage(prompt.tokens, generated.tokens, estimated=True))
        text = "".join(state.sent)
        request = self._continuation(state.call.request, text.rstrip())
        if request is None:
            raise exc
        state.skip = text[len(text.rstrip()) :]
        state.resumes += 1
        log.info("llmprod: stream broke (%s) after %d chunks; resuming it", type(exc).__name__, len(state.sent))
        if self.emit is not None:
            self.emit(StreamResumed(state.call.id, self.deployment, len(text), state.resumes, type(exc).__name__))
        call = state.call.with_request(request)
        while True:
            try:
                opened = await self.inner.open(call)
                break
            except Exception as failed:
                # The retries below gave up. The caller has half an answer that no other
                # deployment can finish: try again while resumes and time are left.
                state.attempts += attempts_of(failed)
                wait = getattr(failed, "retry_after", None) or 0.0
                left = call.time_left()
                if not resumable(failed) or state.resumes >= MAX_RESUMES or (left is not None and wait >= left):
                    raise
                state.resumes += 1
                await asyncio.sleep(wait)
        state.part = _Part(opened, request, known=0, first=opened.first)

    def _continuation(self, request: ChatRequest, text: str) -> ChatRequest | None:
        if not text:  # nothing but whitespace was sent: asking again is the continuation
            return request
        if request.max_tokens is not None:
            used = count_text(text, request.model or "").tokens
            request = replace(request, max_tokens=max(request.max_tokens - used, 1))
        return self.backend.continuation(request, text)

    async def finish(self, opened: Opened, state: _State, error: BaseException | None) -> None:
        part = state.part
        if not part.opened.closed:
            await _aclose(part.opened.rest)
            await part.opened.close(error)
            state.attempts += part.opened.attempts[part.known :]
        opened.attempts = (*opened.attempts, *state.attempts)


def _note(state: _State, chunk: ChatChunk) -> None:
    state.part.generated.append(chunk.text)
    if chunk.text:
        state.sent.append(chunk.text)
    if chunk.tool_calls:
        state.tools = True


def _passed(state: _State, chunk: ChatChunk) -> ChatChunk | None:
    """The chunk as the caller gets it: what it already has dropped, and for the final
    chunk after a resume, the joined answer. None when nothing is left to hand on."""
    text = chunk.text
    if state.skip and text:
        same = 0
        while same < min(len(text), len(state.skip)) and text[same] == state.skip[same]:
            same += 1
        state.skip = state.skip[same:] if same == len(text) else ""
        state.part.generated.append(text[:same])
        chunk = replace(chunk, text=text[same:])
        text = chunk.text
    _note(state, chunk)
    response = chunk.response
    if response is None:
        return chunk if text or chunk.tool_calls or chunk.finish_reason or chunk.usage else None
    state.part.opened.response = response
    if not state.resumes:
        return chunk
    usage = _summed([*state.spent, response.usage])
    joined = replace(response, text="".join(state.sent), usage=usage)
    return replace(chunk, usage=usage, response=joined)


def _summed(parts: list[Usage]) -> Usage:
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in parts),
        completion_tokens=sum(u.completion_tokens for u in parts),
        cached_tokens=sum(u.cached_tokens for u in parts),
        cache_write_tokens=sum(u.cache_write_tokens for u in parts),
        estimated=any(u.estimated for u in parts),
    )


async def _aclose(stream: AsyncIterator[ChatChunk] | None) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
