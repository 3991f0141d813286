"""The generating thread behind :class:`~llmprod.backends.transformers.Transformers`.

One worker thread owns the model. It takes jobs from a queue: the first job that
arrives opens a batch, which collects more for ``batch_window`` seconds or until
``max_batch_size`` (dynamic batching). A batch is generated as one left-padded
tensor by a decode loop over ``model(...)`` with a KV cache, one forward pass per
token for the whole batch; each row stops on its own (its ``max_new_tokens``, an
end-of-sequence token, a stop string, or its caller going away) and leaves the
batch at once (its KV-cache row is dropped). Each row's text is pushed to its caller
as it is decoded, through the job's ``deliver`` callback (which hops onto the
caller's event loop).

With a draft model the worker runs transformers' assisted generation instead,
one job at a time (assisted generation takes a single sequence).

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

from ._hf_text import Decode, TextOutput

# What a job's deliver() receives: ("text", str), ("done", finish_reason, completion_tokens)
# or ("error", message, retryable).
Event = tuple[Any, ...]


@dataclass(eq=False, slots=True)
class Job:
    """One request, as the worker sees it. ``cancelled`` is set by the caller's side."""

    prompt: list[int]
    max_new_tokens: int
    deliver: Callable[[Event], None]
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    cancelled: bool = False


@dataclass(slots=True)
class EngineStats:
    """Counters of what the worker did, for tests, benchmarks and capacity checks."""

    requests: int = 0
    batches: int = 0
    forward_passes: int = 0
    largest_batch: int = 0
    generated_tokens: int = 0
    cancelled: int = 0
    active: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class _Row:
    """A job inside a running batch: its sampler and its text."""

    __slots__ = ("generated", "generator", "job", "output")

    def __init__(self, job: Job, decode: Decode, generator: Any) -> None:
        self.job = job
        self.output = TextOutput(decode, job.stop)
        self.generator = generator
        self.generated = 0

    def step(self, token: int, eos: frozenset[int]) -> str | None:
        """Take one sampled token; return the finish reason if the row is done."""
        if self.job.cancelled:
            return "cancelled"
        self.generated += 1
        if token in eos:
            return "stop"
        delta = self.output.add(token)
        if delta:
            self.job.deliver(("text", delta))
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
        while not self._closing:
            batch = self._collect()
            if not batch:
                continue
            self.stats.batches += 1
            self.stats.batch_sizes.append(len(batch))
            self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
            self.stats.active = len(batch)
            try:
                if self._draft is not None:
                    self._assisted(batch[0])
                else:
                    self._generate(batch)
            except Exception as exc:  # OOM, a device error: fail this batch, keep serving
                for job in batch:
                    job.deliver(("error", f"{type(exc).__name__}: {exc}", True))
            finally:
                self.stats.active = 0
        with contextlib.suppress(queue.Empty):
            while True:
                waiting = self._jobs.get_nowait()
                if waiting is not None:
                    waiting.deliver(("error", "the engine is shut down", False))

    def _collect(self) -> list[Job]:
        """Wait for a job, then gather others for the batch window (dropping cancelled ones)."""
        first = self._jobs.get()
        if first is None:
            return []
        batch = [first]
        size = 1 if self._draft is not None else self._max_batch
        deadline = time.monotonic() + self._window
        while len(batch) < size:
            left = deadline - time.monotonic()
            try:
                job = self._jobs.get(timeout=left) if left > 0 else self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._closing = True
                break
            batch.append(job)
        kept = [job for job in batch if not job.cancelled]
        self.stats.cancelled += len(batch) - len(kept)
        return kept

    def _finish(self, row: _Row, reason: str) -> None:
        self.stats.generated_tokens += row.generated
        if reason == "cancelled":
            self.stats.cancelled += 1
            return
        if reason == "closed":
            row.job.deliver(("error", "the engine was shut down during generation", False))
            return
        rest = row.output.flush()
        if rest:
            row.job.deliver(("text", rest))
        row.job.deliver(("done", reason, row.generated))

    def _generator(self, job: Job) -> Any:
        if job.temperature is None or job.temperature == 0:
            return None
        generator = self._torch.Generator(device=self._device)
        if job.seed is None:
            generator.seed()
        else:
            generator.manual_seed(job.seed)
        return generator

    def _generate(self, jobs: list[Job]) -> None:
        torch = self._torch
        rows = [_Row(job, self._decode, self._generator(job)) for job in jobs]
        longest = max(len(job.prompt) for job in jobs)
        ids = torch.full((len(jobs), longest), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(jobs), longest), dtype=torch.long)
        for i, job in enumerate(jobs):  # left padding: every prompt ends at the last column
            ids[i, longest - len(job.prompt) :] = torch.tensor(job.prompt, dtype=torch.long)
            mask[i, longest - len(job.prompt) :] = 1
        ids, mask = ids.to(self._device), mask.to(self._device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = None  # the model starts a DynamicCache on the first pass
        with torch.inference_mode():
            while rows:
                out = self._model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    logits_to_keep=1,
                    **{self._cache_arg: cache},
                )
                self.stats.forward_passes += 1
                cache = getattr(out, self._cache_arg)
                tokens = self._sample(out.logits[:, -1, :], rows)
                keep = []
                for i, row in enumerate(rows):
                    reason = "closed" if self._closing else row.step(tokens[i], self._eos)
                    if reason is None:
                        keep.append(i)
                    else:
                        self._finish(row, reason)
                if not keep:
                    return
                if len(keep) < len(rows):
                    index = torch.tensor(keep, device=self._device)
                    cache.batch_select_indices(index)
                    mask, positions = mask[index], positions[index]
                    rows = [rows[i] for i in keep]
                    tokens = [tokens[i] for i in keep]
                    self.stats.active = len(rows)
                ids = torch.tensor(tokens, dtype=torch.long, device=self._device).unsqueeze(-1)
                mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=-1)
                positions = positions[:, -1:] + 1

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
                        return
                    reason = "closed" if engine._closing else row.step(int(token), engine._eos)
                    if reason is not None:
                        finished.append(reason)

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
