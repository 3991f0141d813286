"""The generating thread behind :class:`~llmprod.backends.transformers.Transformers`.

One worker thread owns the model and runs continuous batching: a loop of decode steps,
one forward pass per token for every running row (:class:`._hf_batch.RunningBatch`).
Before each step it takes the jobs that arrived (up to ``max_batch_size`` rows in all),
prefills their prompts in one pass and joins them to the running batch, so a new request
starts at the next step instead of waiting for the batch to end. When the engine is idle,
the first job waits up to ``batch_window`` seconds for company, so a burst is prefilled
together. Each row stops on its own (its ``max_new_tokens``, an end-of-sequence token, a
stop string, or its caller going away) and leaves the batch at once, freeing its slot
and its KV-cache row. Each row's text is pushed to its caller as it is decoded, through
the job's event loop: one ``call_soon_threadsafe`` per loop per step carries every row's
events of that step (a job without a loop gets its own ``deliver`` calls). A whole-answer
job (``stream=False``) gets its text once, at the end.

With a draft model the worker runs transformers' assisted generation instead, one job
at a time (assisted generation takes a single sequence).

Nothing here imports torch: the owning backend passes the modules in.
"""

from __future__ import annotations

import contextlib
import inspect
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._hf_batch import RunningBatch
from ._hf_text import Decode, TextOutput

# What a job's deliver() receives: ("text", str, tokens so far), ("done", finish_reason,
# completion_tokens) or ("error", message, retryable).
Event = tuple[Any, ...]


@dataclass(eq=False, slots=True)
class Job:
    """One request, as the worker sees it. ``cancelled`` is set by the caller's side."""

    prompt: list[int]
    max_new_tokens: int
    # Called on the engine's thread when ``loop`` is None; on the caller's, by submit() after close().
    deliver: Callable[[Event], None]
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    cancelled: bool = False
    stream: bool = True  # False: the text comes in one event, at the end
    loop: Any = None  # the caller's event loop, where ``put`` runs
    put: Callable[[Event], None] | None = None  # e.g. an asyncio.Queue's put_nowait
    tokens: list[int] = field(default_factory=list)  # generated, end-of-sequence excluded (appended here)


@dataclass(slots=True)
class EngineStats:
    """Counters of what the worker did, for tests, benchmarks and capacity checks."""

    requests: int = 0
    batches: int = 0  # prefill passes: groups of requests that entered generation together
    joined: int = 0  # requests that joined a batch already generating (continuous batching)
    forward_passes: int = 0
    largest_batch: int = 0  # the most rows generating at once
    generated_tokens: int = 0
    cancelled: int = 0
    active: int = 0  # rows generating now
    batch_sizes: list[int] = field(default_factory=list)  # the size of each prefilled group


class _Row:
    """A job inside a running batch: its sampler and its text."""

    __slots__ = ("generated", "generator", "job", "output", "parts")

    def __init__(self, job: Job, decode: Decode, generator: Any) -> None:
        self.job = job
        self.output = TextOutput(decode, job.stop)
        self.generator = generator
        self.generated = 0
        self.parts: list[str] = []  # the text so far, for a whole-answer job

    def step(self, token: int, eos: frozenset[int], send: Callable[[Job, Event], None]) -> str | None:
        """Take one sampled token; return the finish reason if the row is done."""
        if self.job.cancelled:
            return "cancelled"
        self.generated += 1
        if token in eos:
            return "stop"
        self.job.tokens.append(token)
        delta = self.output.add(token)
        if delta:
            if self.job.stream:
                send(self.job, ("text", delta, len(self.job.tokens)))
            else:
                self.parts.append(delta)
        if self.output.stopped:
            return "stop"
        return "length" if self.generated >= self.job.max_new_tokens else None


class Engine:
    """The worker thread and its queue. ``start()``, ``submit(job)``, ``close()``."""

    def __init__(
        self,
        *,
        torch: Any,
        model: Any,
        tokenizer: Any,
        device: Any,
        eos_ids: Sequence[int],
        pad_id: int,
        max_batch_size: int,
        batch_window: float,
        draft: Any = None,
        name: str = "transformers",
    ) -> None:
        self._torch = torch
        self._model = model
        self._tokenizer = tokenizer
        self._device = device
        self._eos = frozenset(eos_ids)
        self._pad_id = pad_id
        self._max_batch = max_batch_size
        self._window = batch_window
        self._draft = draft
        # transformers 5.x renamed the KV-cache argument `past_key_values` to `cache`.
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._outbox: list[tuple[Job, Event]] = []  # events of this step, not yet handed over
        self._closing = False
        self.stats = EngineStats()
        self.thread = threading.Thread(target=self._run, name=f"llmprod-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, job: Job) -> None:
        if self._closing:
            job.deliver(("error", "the engine is shut down", False))
            return
        self.stats.requests += 1
        self._jobs.put(job)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking jobs, fail the waiting ones, end the running batch; join the thread."""
        self._closing = True
        self._jobs.put(None)
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _decode(self, ids: Sequence[int]) -> str:
        return str(self._tokenizer.decode(list(ids), skip_special_tokens=True))

    def _run(self) -> None:
        if self._draft is not None:
            self._run_assisted()
        else:
            self._run_continuous()
        self._fail_waiting()

    def _run_continuous(self) -> None:
        torch = self._torch
        batch = RunningBatch(
            torch=torch, model=self._model, device=self._device, pad_id=self._pad_id, cache_arg=self._cache_arg
        )
        with torch.inference_mode():
            while not self._closing:
                room = self._max_batch - len(batch) if batch.joinable else 0
                jobs = self._take(room, wait=not batch.rows)
                if self._closing:
                    break
                try:
                    if jobs:
                        self._admit(batch, jobs)
                    if batch.rows:
                        self._step(batch)
                except Exception as exc:  # OOM, a device error: fail the running rows, keep serving
                    for row in batch.rows:
                        self._send(row.job, ("error", f"{type(exc).__name__}: {exc}", True))
                    batch.clear()
                finally:
                    self.stats.active = len(batch)
                    self._flush()
        for row in batch.rows:
            self._finish(row, "closed")
        batch.clear()
        self._flush()
        self.stats.active = 0

    def _take(self, room: int, *, wait: bool) -> list[Job]:
        """Up to ``room`` waiting jobs (not cancelled ones); when ``wait``, block for the first and
        gather others for the batch window."""
        jobs: list[Job] = []
        deadline = None
        while len(jobs) < room:
            try:
                if wait and not jobs:
                    job = self._jobs.get()
                    deadline = time.monotonic() + self._window
                elif deadline is not None and (left := deadline - time.monotonic()) > 0:
                    job = self._jobs.get(timeout=left)
                else:
                    job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._closing = True
                break
            if job.cancelled:
                self.stats.cancelled += 1
            else:
                jobs.append(job)
        return jobs

    def _admit(self, batch: RunningBatch, jobs: list[Job]) -> None:
        """Prefill new jobs, sample their first tokens, and join the ones still going."""
        rows = [_Row(job, self._decode, self._generator(job)) for job in jobs]
        logits = batch.prefill(rows, [job.prompt for job in jobs])
        self.stats.forward_passes += 1
        self.stats.batches += 1
        self.stats.batch_sizes.append(len(jobs))
        if batch.rows:
            self.stats.joined += len(jobs)
        tokens = self._sample(logits, rows)
        going = [i for i, row in enumerate(rows) if not self._done(row, tokens[i])]  # some end on their first token
        batch.join(going, [tokens[i] for i in going])
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))

    def _step(self, batch: RunningBatch) -> None:
        """One decode step for every row; finished rows leave at once."""
        logits = batch.decode()
        self.stats.forward_passes += 1
        tokens = self._sample(logits, batch.rows)
        keep = [i for i, row in enumerate(batch.rows) if not self._done(row, tokens[i])]
        batch.keep(keep, [tokens[i] for i in keep])

    def _done(self, row: _Row, token: int) -> bool:
        reason = "closed" if self._closing else row.step(token, self._eos, self._send)
        if reason is None:
            return False
        self._finish(row, reason)
        return True

    def _run_assisted(self) -> None:
        while not self._closing:
            jobs = self._take(1, wait=True)
            if not jobs:
                continue
            self.stats.batches += 1
            self.stats.batch_sizes.append(1)
            self.stats.largest_batch = 1
            self.stats.active = 1
            try:
                self._assisted(jobs[0])
            except Exception as exc:  # OOM, a device error: fail this job, keep serving
                self._send(jobs[0], ("error", f"{type(exc).__name__}: {exc}", True))
            finally:
                self.stats.active = 0
                self._flush()

    def _fail_waiting(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                waiting = self._jobs.get_nowait()
                if waiting is not None:
                    self._send(waiting, ("error", "the engine is shut down", False))
        self._flush()

    def _finish(self, row: _Row, reason: str) -> None:
        self.stats.generated_tokens += row.generated
        if reason == "cancelled":
            self.stats.cancelled += 1
            return
        if reason == "closed":
            self._send(row.job, ("error", "the engine was shut down during generation", False))
            return
        rest = row.output.flush()
        text = rest if row.job.stream else "".join(row.parts) + rest
        if text:
            self._send(row.job, ("text", text, len(row.job.tokens)))
        self._send(row.job, ("done", reason, row.generated))

    def _send(self, job: Job, event: Event) -> None:
        if job.loop is None:
            job.deliver(event)
        else:
            self._outbox.append((job, event))

    def _flush(self) -> None:
        """Hand the events gathered since the last flush to their callers' loops: one hop per loop."""
        if not self._outbox:
            return
        by_loop: dict[Any, list[tuple[Job, Event]]] = {}
        for job, event in self._outbox:
            by_loop.setdefault(job.loop, []).append((job, event))
        self._outbox = []
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_put_all, items)
            except RuntimeError:  # that loop is closed: nobody is listening
                for job, _ in items:
                    job.cancelled = True

    def _generator(self, job: Job) -> Any:
        if job.temperature is None or job.temperature == 0:
            return None
        generator = self._torch.Generator(device=self._device)
        if job.seed is None:
            generator.seed()
        else:
            generator.manual_seed(job.seed)
        return generator

    def _sample(self, logits: Any, rows: list[_Row]) -> list[int]:
        """Greedy rows take the argmax; sampling rows draw with their own generator."""
        torch = self._torch
        chosen = [int(t) for t in logits.argmax(-1).tolist()]
        for i, row in enumerate(rows):
            if row.generator is None:
                continue
            scores = logits[i].float() / float(row.job.temperature or 1.0)
            probs = torch.softmax(scores, dim=-1)
            top_p = row.job.top_p
            if top_p is not None and top_p < 1.0:
                ordered, order = torch.sort(probs, descending=True)
                outside = ordered.cumsum(-1) - ordered > top_p  # keep the smallest set reaching top_p
                ordered[outside] = 0.0
                probs = torch.zeros_like(probs).scatter(0, order, ordered)
            chosen[i] = int(torch.multinomial(probs, 1, generator=row.generator).item())
        return chosen

    def _assisted(self, job: Job) -> None:
        """Assisted (speculative) generation with the draft model, for one job."""
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        torch = self._torch
        row = _Row(job, self._decode, None)
        finished: list[str] = []
        engine = self

        class Streamer(BaseStreamer):  # type: ignore[misc,unused-ignore]
            prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:  # generate() first puts the prompt
                    self.prompt_seen = True
                    return
                for token in value.reshape(-1).tolist():
                    if finished:
                        break
                    reason = "closed" if engine._closing else row.step(int(token), engine._eos, engine._send)
                    if reason is not None:
                        finished.append(reason)
                engine._flush()

            def end(self) -> None:
                pass

        class Stop(StoppingCriteria):  # type: ignore[misc,unused-ignore]
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = bool(finished) or job.cancelled or engine._closing
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        options: dict[str, Any] = {"do_sample": False}
        if job.temperature:
            options = {"do_sample": True, "temperature": job.temperature, "top_p": job.top_p or 1.0}
            if job.seed is not None:
                torch.manual_seed(job.seed)  # assisted generation has no per-request generator
        prompt = torch.tensor([job.prompt], dtype=torch.long, device=self._device)
        with torch.inference_mode():
            self._model.generate(
                input_ids=prompt,
                attention_mask=torch.ones_like(prompt),
                assistant_model=self._draft,
                max_new_tokens=job.max_new_tokens,
                eos_token_id=sorted(self._eos) or None,
                pad_token_id=self._pad_id,
                streamer=Streamer(),
                stopping_criteria=StoppingCriteriaList([Stop()]),
                **options,
            )
        self.stats.forward_passes += 1
        self._finish(row, finished[0] if finished else ("cancelled" if job.cancelled else "length"))


def _put_all(items: list[tuple[Job, Event]]) -> None:
    """Runs on the callers' loop: put each event on its job's queue, in order."""
    for job, event in items:
        if job.put is not None:
            job.put(event)
