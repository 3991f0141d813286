"""The in-process vLLM backend, against the stand-in in ``fake_vllm/`` (vLLM itself needs a GPU).

The stand-in follows vLLM 0.33.0's API (see its docstring); it is put on ``sys.path`` by
the ``fake_vllm`` fixture only. The real engine is exercised by ``scripts/gpu_check.py``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmprod
from llmprod import AsyncClient, ConfigError, InvalidRequestError, Message
from llmprod.backends import ChatRequest
from llmprod.errors import ContextWindowExceededError, MissingDependencyError, ServerError

STAND_IN = Path(__file__).parent / "fake_vllm"


def _drop_vllm_modules() -> None:
    for name in [n for n in sys.modules if n == "vllm" or n.startswith("vllm.")]:
        del sys.modules[name]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _drop_vllm_modules()
    monkeypatch.syspath_prepend(str(STAND_IN))
    yield
    _drop_vllm_modules()


def _request(text: str = "hello engine", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("system", "be brief"), Message("user", text)), **kwargs)


def _client(backend: Any) -> AsyncClient:
    # No retries: each test looks at exactly one engine request.
    return AsyncClient(backend, retry=None, breaker=None, telemetry=False)


def test_missing_vllm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _drop_vllm_modules()
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError, installed or not
    with pytest.raises(MissingDependencyError) as info:
        llmprod.VLLM("some/model")
    assert info.value.package == "vllm"
    assert "pip install 'llmprod[vllm]'" in str(info.value)


def test_importing_the_backend_does_not_import_vllm() -> None:
    import llmprod.backends.vllm  # noqa: F401

    assert "vllm" not in sys.modules or sys.modules["vllm"] is None


@pytest.mark.usefixtures("fake_vllm")
async def test_options_reach_the_engine_arguments() -> None:
    spec = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4}
    backend = llmprod.VLLM(
        "org/model-awq",
        quantization="awq",
        enable_prefix_caching=False,
        speculative_config=spec,
        tensor_parallel_size=2,
        pipeline_parallel_size=2,
        gpu_memory_utilization=0.75,
        max_num_seqs=64,
        max_model_len=2048,
        dtype="half",
        engine_args={"enforce_eager": True, "kv_cache_dtype": "fp8"},
    )
    await backend.start()
    args = backend.engine.engine_args
    assert (args.model, args.quantization, args.enable_prefix_caching) == ("org/model-awq", "awq", False)
    assert args.speculative_config == spec
    assert (args.tensor_parallel_size, args.pipeline_parallel_size) == (2, 2)
    assert (args.gpu_memory_utilization, args.max_num_seqs, args.max_model_len) == (0.75, 64, 2048)
    assert (args.dtype, args.enforce_eager, args.kv_cache_dtype) == ("half", True, "fp8")
    await backend.aclose()
    assert backend.engine is None


@pytest.mark.usefixtures("fake_vllm")
@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"quantization": "int3"}, "vllm.quantization"),
        ({"gpu_memory_utilization": 1.5}, "vllm.gpu_memory_utilization"),
        ({"tensor_parallel_size": 0}, "vllm.tensor_parallel_size"),
        ({"max_num_seqs": 0}, "vllm.max_num_seqs"),
        ({"engine_args": {"no_such_argument": 1}}, "vllm.engine_args"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        llmprod.VLLM("m", **options)
    assert info.value.path == path


@pytest.mark.usefixtures("fake_vllm")
async def test_complete_applies_the_chat_template_and_reports_usage() -> None:
    backend = llmprod.VLLM("m", name="gpu-a")
    response = await backend.complete(_request(max_tokens=5, temperature=0.0, seed=7, stop=("zzz",)))
    engine = backend.engine
    assert engine.tokenizer.rendered[-1] == "<|system|> be brief <|user|> hello engine <|assistant|>"
    seen = engine.requests[-1]
    assert len(response.text.split()) == 5
    assert response.finish_reason == "length"
    assert response.usage.prompt_tokens == len(seen.prompt_token_ids)
    assert response.usage.completion_tokens == 5
    assert (response.deployment, response.id) == ("gpu-a", seen.request_id)
    params = seen.params
    assert (params.max_tokens, params.temperature, params.seed, params.stop) == (5, 0.0, 7, ["zzz"])
    assert params.output_kind.name == "FINAL_ONLY"
    await backend.aclose()


@pytest.mark.usefixtures("fake_vllm")
async def test_unset_max_tokens_is_not_vllms_default_of_16() -> None:
    backend = llmprod.VLLM("m")
    response = await backend.complete(_request())
    assert backend.engine.requests[-1].params.max_tokens is None
    assert (response.finish_reason, response.usage.completion_tokens) == ("stop", 12)  # the stand-in's EOS


@pytest.mark.usefixtures("fake_vllm")
async def test_stream_yields_deltas_and_a_final_chunk() -> None:
    backend = llmprod.VLLM("m")
    await backend.start()
    engine = backend.engine
    async with _client(backend) as client:
        chunks = [c async for c in client.stream("count for me", max_tokens=6)]
        whole = await client.chat("count for me", max_tokens=6)
    texts = [c.text for c in chunks[:-1]]
    assert len(texts) == 6 and all(texts)
    final = chunks[-1]
    assert final.response is not None
    assert final.response.text == "".join(texts) == whole.text
    assert (final.finish_reason, final.usage and final.usage.completion_tokens) == ("length", 6)
    assert engine.requests[0].params.output_kind.name == "DELTA"
    assert not engine.in_flight
    assert engine.shut_down  # the client's aclose shut the engine down


@pytest.mark.usefixtures("fake_vllm")
async def test_64_concurrent_calls_are_in_the_engine_at_once() -> None:
    backend = llmprod.VLLM("m", max_num_seqs=64)
    await backend.start()
    engine = backend.engine
    engine.gate.clear()  # hold every request before its first token
    async with _client(backend) as client:
        calls = [asyncio.create_task(client.chat(f"question {i}", max_tokens=4)) for i in range(64)]
        async with asyncio.timeout(20):
            while len(engine.in_flight) < 64:
                await asyncio.sleep(0.005)
        assert len(engine.in_flight) == 64
        engine.gate.set()
        answers = await asyncio.gather(*calls)
    assert engine.max_in_flight == 64
    assert len({r.request_id for r in engine.requests}) == 64
    assert all(a.usage.completion_tokens == 4 for a in answers)
    assert not engine.in_flight


@pytest.mark.usefixtures("fake_vllm")
async def test_cancelling_the_caller_aborts_the_engine_request() -> None:
    backend = llmprod.VLLM("m")
    await backend.start()
    engine = backend.engine
    engine.step_delay = 0.01
    engine.answer_words = 10_000
    first = asyncio.Event()

    async def consume(client: AsyncClient) -> None:
        async for _ in client.stream("write a long story", max_tokens=2000):
            first.set()

    async with _client(backend) as client:
        task = asyncio.create_task(consume(client))
        async with asyncio.timeout(10):
            await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    request_id = engine.requests[-1].request_id
    assert engine.aborted == [request_id]
    assert not engine.in_flight


@pytest.mark.usefixtures("fake_vllm")
async def test_a_caller_that_stops_reading_aborts_the_engine_request() -> None:
    backend = llmprod.VLLM("m")
    await backend.start()
    engine = backend.engine
    engine.step_delay = 0.01
    engine.answer_words = 10_000
    stream = backend.stream(_request(max_tokens=2000))
    first = await anext(stream)
    assert first.text
    await stream.aclose()
    request_id = engine.requests[-1].request_id
    assert (request_id, False) in engine.abort_calls  # the backend's own abort, not the engine's cleanup
    assert engine.aborted == [request_id]
    assert not engine.in_flight


@pytest.mark.usefixtures("fake_vllm")
async def test_prefix_caching_reports_cached_prompt_tokens() -> None:
    long_prompt = " ".join(f"word{i}" for i in range(80))
    cached = []
    for enabled in (True, False):
        backend = llmprod.VLLM("m", enable_prefix_caching=enabled)
        await backend.complete(_request(long_prompt + " first", max_tokens=2))
        second = await backend.complete(_request(long_prompt + " second", max_tokens=2))
        cached.append(second.usage.cached_tokens)
        await backend.aclose()
    assert cached[0] >= 64 and cached[0] % 16 == 0
    assert cached[1] == 0


@pytest.mark.usefixtures("fake_vllm")
async def test_engine_errors_become_typed_errors() -> None:
    backend = llmprod.VLLM("m", engine_args={"max_model_len": 8})
    with pytest.raises(ContextWindowExceededError):  # vLLM's own prompt-length check, mapped
        await backend.complete(_request("far too many words for this tiny engine to take"))
    with pytest.raises(InvalidRequestError):
        await backend.complete(_request("x", temperature=-1.0))
    with pytest.raises(InvalidRequestError):
        await backend.complete(_request("x", extra_body={"no_such_sampling_param": 1}))
    backend.engine.shutdown()
    with pytest.raises(ServerError) as info:
        await backend.complete(_request("x"))
    assert info.value.retryable is False  # a dead engine stays dead: fail over, do not retry


@pytest.mark.usefixtures("fake_vllm")
async def test_max_model_len_is_checked_before_the_engine() -> None:
    backend = llmprod.VLLM("m", max_model_len=8)
    with pytest.raises(ContextWindowExceededError):
        await backend.complete(_request("far too many words for this tiny engine to take"))
    assert backend.engine.requests == []
