"""The in-process transformers engine, generating for real with a tiny random-weight model.

The model is built offline by the ``tiny_model`` fixture (tests/fixtures_models.py); its
special tokens are never the greedy choice, so an answer runs to ``max_tokens`` unless a
stop string (or an end-of-sequence token named in ``generation_config.json``) ends it.
Tests that need torch skip without it (the no-extras session).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import llmprod
from llmprod import AsyncClient, ConfigError, InvalidRequestError, Message
from llmprod.backends import ChatRequest
from llmprod.errors import ContextWindowExceededError, MissingDependencyError, ServerError

from .cutting import Cutting, resumed_at_every_cut, resuming, streamed


def _request(text: str = "hello there", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("system", "be brief"), Message("user", text)), **kwargs)


def _client(backend: Any) -> AsyncClient:
    # No retries: each test looks at exactly one engine request.
    return AsyncClient(backend, retry=None, breaker=None, telemetry=False)


@pytest.fixture
async def backend(tiny_model: Path) -> AsyncIterator[llmprod.Transformers]:
    engine = llmprod.Transformers(str(tiny_model), max_batch_size=16, threads=1)
    await engine.start()
    yield engine
    await engine.aclose()


async def _wait_until(condition: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_missing_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError, installed or not
    with pytest.raises(MissingDependencyError) as info:
        llmprod.Transformers("some/model")
    assert info.value.extra == "transformers"
    assert "pip install 'llmprod[transformers]'" in str(info.value)


def test_importing_the_backend_imports_nothing_heavy() -> None:
    heavy = ["torch", "transformers", "httpx", "tenacity", "pybreaker", "cachetools", "opentelemetry", "tiktoken"]
    code = f"import sys, llmprod.backends.transformers\nprint(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"device": "tpu"}, "transformers.device"),
        ({"dtype": "float8"}, "transformers.dtype"),
        ({"quantization": "int4"}, "transformers.quantization"),
        ({"max_batch_size": 0}, "transformers.max_batch_size"),
        ({"batch_window_ms": -1}, "transformers.batch_window_ms"),
        ({"threads": 0}, "transformers.threads"),
        ({"max_new_tokens_default": 0}, "transformers.max_new_tokens_default"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        llmprod.Transformers("m", **options)
    assert info.value.path == path


def test_int8_on_a_gpu_is_refused_clearly() -> None:
    pytest.importorskip("torch")
    with pytest.raises(ConfigError, match="CPU only"):
        llmprod.Transformers("m", device="cuda", quantization="int8")


async def test_chat_applies_the_chat_template_and_reports_usage(backend: llmprod.Transformers) -> None:
    async with _client(backend) as client:
        response = await client.chat("hello there", max_tokens=12)
    prompt = backend._tokenizer.apply_chat_template(
        [{"role": "user", "content": "hello there"}], tokenize=True, add_generation_prompt=True
    )["input_ids"]
    assert response.text and response.finish_reason == "length"
    assert response.usage.prompt_tokens == len(prompt)
    assert response.usage.completion_tokens == 12
    assert response.deployment == backend.name
    assert backend.engine is None  # the client's aclose shut the engine down


async def test_stream_gives_the_same_greedy_answer_as_complete(backend: llmprod.Transformers) -> None:
    whole = await backend.complete(_request(max_tokens=20, temperature=0.0))
    chunks = [c async for c in backend.stream(_request(max_tokens=20))]
    texts = [c.text for c in chunks[:-1]]
    final = chunks[-1]
    assert len(texts) > 1 and all(texts)
    assert "".join(texts) == whole.text
    assert final.response is not None and final.response.text == whole.text
    assert (final.finish_reason, final.usage) == ("length", whole.usage)


async def test_16_concurrent_requests_are_batched_each_with_its_own_max_tokens(tiny_model: Path) -> None:
    prompts = [f"question number {i} " * (1 + i % 4) for i in range(16)]  # prompt lengths differ
    batched = llmprod.Transformers(str(tiny_model), max_batch_size=16, batch_window_ms=50, threads=1)
    alone = llmprod.Transformers(str(tiny_model), max_batch_size=1, threads=1)
    try:
        answers = await asyncio.gather(
            *(batched.complete(_request(p, max_tokens=i + 1)) for i, p in enumerate(prompts))
        )
        stats = batched.stats
        assert stats.requests == 16
        assert stats.batches < 16 and stats.largest_batch > 1  # really generated together
        assert stats.forward_passes < sum(range(1, 17))  # fewer passes than tokens generated
        assert [a.usage.completion_tokens for a in answers] == list(range(1, 17))
        assert all(a.finish_reason == "length" for a in answers)
        # Left padding and per-row positions: a row's answer does not depend on its batch.
        for i in (0, 5, 10, 15):
            one = await alone.complete(_request(prompts[i], max_tokens=i + 1))
            assert one.text == answers[i].text
        assert alone.stats.largest_batch == 1
    finally:
        await batched.aclose()
        await alone.aclose()


async def test_stop_strings_end_the_answer_and_never_show_in_the_stream(backend: llmprod.Transformers) -> None:
    full = await backend.complete(_request(max_tokens=30))
    stop = full.text[8:11]  # a piece of the greedy answer, so the model does produce it
    cut = full.text[: full.text.find(stop)]
    whole = await backend.complete(_request(max_tokens=30, stop=(stop,)))
    chunks = [c async for c in backend.stream(_request(max_tokens=30, stop=(stop, "never-seen")))]
    assert (whole.text, whole.finish_reason) == (cut, "stop")
    assert "".join(c.text for c in chunks) == cut
    assert chunks[-1].finish_reason == "stop"
    assert whole.usage.completion_tokens < 30


async def test_an_end_of_sequence_token_stops_generation(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "with-eos"
    shutil.copytree(tiny_model, folder)
    probe = llmprod.Transformers(str(folder), threads=1)
    full = await probe.complete(_request(max_tokens=10))
    await probe.aclose()
    ids = probe._tokenizer(full.text)["input_ids"]
    config = json.loads((folder / "generation_config.json").read_text())
    config["eos_token_id"] = ids[3]  # the greedy answer's 4th token now ends the sequence
    (folder / "generation_config.json").write_text(json.dumps(config))
    backend = llmprod.Transformers(str(folder), threads=1)
    try:
        response = await backend.complete(_request(max_tokens=10))
    finally:
        await backend.aclose()
    assert response.finish_reason == "stop"
    assert response.text == probe._tokenizer.decode(ids[:3])
    assert response.usage.completion_tokens == 4  # the end-of-sequence token counts


async def test_seeded_sampling_is_reproducible(backend: llmprod.Transformers) -> None:
    sampled = [await backend.complete(_request(max_tokens=16, temperature=1.0, top_p=0.9, seed=s)) for s in (7, 7, 8)]
    greedy = await backend.complete(_request(max_tokens=16))
    assert sampled[0].text == sampled[1].text
    assert len({sampled[0].text, sampled[2].text, greedy.text}) == 3


async def test_cancelling_the_caller_stops_generation(backend: llmprod.Transformers) -> None:
    first = asyncio.Event()

    async def consume(client: AsyncClient) -> None:
        async for _ in client.stream("write a long story", max_tokens=1500):
            first.set()

    async with _client(backend) as client:
        task = asyncio.create_task(consume(client))
        async with asyncio.timeout(20):
            await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _wait_until(lambda: backend.stats.cancelled == 1 and backend.stats.active == 0)
        assert backend.stats.generated_tokens < 1500
        after = await client.chat("still serving?", max_tokens=3)  # the engine goes on
    assert after.usage.completion_tokens == 3


async def test_a_caller_that_stops_reading_stops_generation(backend: llmprod.Transformers) -> None:
    stream = backend.stream(_request(max_tokens=1500))
    assert (await anext(stream)).text
    await stream.aclose()
    await _wait_until(lambda: backend.stats.cancelled == 1 and backend.stats.active == 0)
    assert backend.stats.generated_tokens < 1500


async def test_int8_weights_generate(tiny_model: Path) -> None:
    backend = llmprod.Transformers(str(tiny_model), quantization="int8", threads=1)
    try:
        await backend.start()
        assert backend.engine is not None
        linear = backend.engine._model.model.layers[0].self_attn.q_proj
        assert type(linear).__module__.startswith("torch.ao.nn.quantized")
        response = await backend.complete(_request(max_tokens=8))
        chunks = [c async for c in backend.stream(_request(max_tokens=8))]
    finally:
        await backend.aclose()
    assert response.usage.completion_tokens == 8 and response.text
    assert "".join(c.text for c in chunks) == response.text


async def test_assisted_decoding_keeps_the_greedy_answer(
    backend: llmprod.Transformers, tiny_model: Path, tiny_draft_model: Path
) -> None:
    assisted = llmprod.Transformers(str(tiny_model), draft_model=str(tiny_draft_model), threads=1)
    try:
        expected = await backend.complete(_request(max_tokens=24))
        answers = await asyncio.gather(*(assisted.complete(_request(max_tokens=24)) for _ in range(3)))
        chunks = [c async for c in assisted.stream(_request(max_tokens=24))]
        stats = assisted.stats
    finally:
        await assisted.aclose()
    assert all(a.text == expected.text for a in answers)  # greedy assisted decoding is lossless
    assert "".join(c.text for c in chunks) == expected.text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 24
    assert stats.largest_batch == 1 and stats.batches == 4  # one sequence at a time


async def test_bad_requests_are_typed_errors(tiny_model: Path) -> None:
    backend = llmprod.Transformers(str(tiny_model), threads=1)
    try:
        with pytest.raises(ContextWindowExceededError):
            await backend.complete(_request("word " * 3000))
        with pytest.raises(InvalidRequestError):
            await backend.complete(_request(extra_body={"top_k": 5}))
        with pytest.raises(InvalidRequestError):
            await backend.complete(_request(max_tokens=0))
        assert backend.stats.requests == 0  # refused before the engine
    finally:
        await backend.aclose()


async def test_shutdown_fails_in_flight_calls_and_leaves_no_thread(tiny_model: Path) -> None:
    backend = llmprod.Transformers(str(tiny_model), threads=1)
    await backend.start()
    assert backend.engine is not None
    thread = backend.engine.thread
    stream = backend.stream(_request(max_tokens=1500))
    assert (await anext(stream)).text
    await backend.aclose()
    with pytest.raises(ServerError) as info:
        async for _ in stream:
            pass
    assert info.value.retryable is False
    assert not thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("llmprod-transformers")]


# --- resuming a broken stream ----------------------------------------------------------------


async def test_a_greedy_stream_broken_after_any_chunk_resumes_to_exactly_the_uncut_answer(
    backend: llmprod.Transformers,
) -> None:
    retokenized_otherwise = await resumed_at_every_cut(backend, "write a poem about the river")
    # Tokenizing the received text again gives other tokens at some cuts (the model wrote
    # words in pieces the tokenizer merges): continuing from those, this model's greedy
    # answer goes elsewhere. The engine continues from the tokens it generated instead.
    assert retokenized_otherwise > 0


async def test_a_continuation_that_breaks_too_is_continued_from_its_own_tokens(backend: llmprod.Transformers) -> None:
    cutting = Cutting(backend)
    async with resuming(cutting) as client:
        _, whole = await streamed(client, "write a poem about the river", max_tokens=24)
        cutting.cuts = [3, 4, 2]  # the stream, its continuation, and that one's continuation break
        texts, final = await streamed(client, "write a poem about the river", max_tokens=24)
    assert "".join(texts) == final.text == whole.text
    assert [a.outcome for a in final.attempt_log] == ["error", "error", "error", "ok"]
    last = backend._resume(cutting.requests[-1])
    assert last is not None and len(last.prompt) == whole.usage.prompt_tokens + 9  # 3 + 4 + 2 chunks of a token


async def test_a_continuation_it_has_no_tokens_for_is_rendered_open(backend: llmprod.Transformers) -> None:
    request = backend.continuation(_request(max_tokens=8), "The river")
    assert request.messages[-1] == Message("assistant", "The river")
    assert request.extra_body == {"continue_final_message": True, "add_generation_prompt": False}
    assert request.max_tokens == 8  # nothing known of the earlier part: the caller's budget stands
    prompt = backend._render(request)
    assert backend._tokenizer.decode(prompt).endswith("<|user|>hello there<|end|><|assistant|>The river")
    chunks = [c async for c in backend.stream(request)]
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (len(prompt), 8)
    again = backend.continuation(request, " flows")  # a continuation's continuation extends the same message
    assert again.messages[-1] == Message("assistant", "The river flows") and len(again.messages) == 3


# --- continuous batching ----------------------------------------------------------------------


async def _first_chunk_then_rest(stream: AsyncIterator[llmprod.ChatChunk], first: asyncio.Event) -> str:
    parts = []
    async for chunk in stream:
        parts.append(chunk.text)
        first.set()
    return "".join(parts)


async def test_a_new_request_joins_the_running_batch_at_the_next_step(backend: llmprod.Transformers) -> None:
    started = asyncio.Event()
    long = asyncio.create_task(_first_chunk_then_rest(backend.stream(_request(max_tokens=1500)), started))
    async with asyncio.timeout(20):
        await started.wait()
    short = await backend.complete(_request("a short one", max_tokens=4))
    assert not long.done()  # with per-window batching the short call waited for all 1,500 tokens
    assert short.usage.completion_tokens == 4
    assert (backend.stats.joined, backend.stats.largest_batch) == (1, 2)
    long.cancel()
    await asyncio.gather(long, return_exceptions=True)


async def test_a_finished_row_frees_its_slot_at_once(tiny_model: Path) -> None:
    backend = llmprod.Transformers(str(tiny_model), max_batch_size=2, threads=1)
    try:
        started = asyncio.Event()
        long = asyncio.create_task(_first_chunk_then_rest(backend.stream(_request(max_tokens=1500)), started))
        async with asyncio.timeout(20):
            await started.wait()
        # Two more than the one free slot: the second waits for the first to finish, not for the long one.
        answers = await asyncio.gather(*(backend.complete(_request(f"short {i}", max_tokens=3)) for i in range(2)))
        assert not long.done()
        assert [a.usage.completion_tokens for a in answers] == [3, 3]
        assert backend.stats.largest_batch == 2  # never more rows than slots
        assert backend.stats.joined == 2
    finally:
        long.cancel()
        await asyncio.gather(long, return_exceptions=True)
        await backend.aclose()


async def test_greedy_answers_joining_mid_batch_equal_one_at_a_time_answers(tiny_model: Path) -> None:
    prompts = [f"question number {i} " * (1 + i % 3) for i in range(6)]  # prompt lengths differ
    budgets = [40, 7, 25, 3, 18, 30]
    batched = llmprod.Transformers(str(tiny_model), max_batch_size=8, threads=1)
    alone = llmprod.Transformers(str(tiny_model), max_batch_size=1, threads=1)
    try:
        tasks = []
        for prompt, budget in zip(prompts, budgets, strict=True):  # each arrives while the others generate
            first = asyncio.Event()
            stream = batched.stream(_request(prompt, max_tokens=budget))
            tasks.append(asyncio.create_task(_first_chunk_then_rest(stream, first)))
            async with asyncio.timeout(20):
                await first.wait()
        texts = await asyncio.gather(*tasks)
        assert batched.stats.joined >= 3  # really joined running batches
        for prompt, budget, text in zip(prompts, budgets, texts, strict=True):
            one = await alone.complete(_request(prompt, max_tokens=budget))
            assert one.text == text
    finally:
        await batched.aclose()
        await alone.aclose()
