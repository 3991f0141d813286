"""The in-process vLLM backend against the real engine: vLLM's CPU build (``nox -s vllm``).

Where vLLM is not installed (the default sessions) only the first tests run: the
missing-vLLM error, the lazy import, and the option checks made before ``import vllm``.
The rest start real engines on a tiny random Llama built offline (head size 64: vLLM's
CPU attention does not take the project's default head size of 16), one engine shared
by the module (its loop is the module's), plus one in a script without a main guard and
one in a Jupyter kernel.

What still cannot run for real here, and how it is covered:

- ``finish_reason="error"``: vLLM gives it to a text request only when a KV-cache
  transfer fails to load, when the engine core cannot compile a structured-output grammar
  that the front end accepted, or on multimodal cache drift; none can be made to happen
  with this model on CPU. The test rewrites the finish reason of the real engine's last
  output (the one mock in this file) and checks the backend's typing and retrying of it.
- Options the CPU build lacks (a quantization the checkpoint does not carry; see
  ``test_options_the_cpu_build_lacks_are_refused_clearly``) are checked as refusals;
  ``scripts/gpu_check.py`` runs the engine checks on CUDA where a GPU is lent.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

import llmprod
from llmprod import AsyncClient, ConfigError, InvalidRequestError, Message
from llmprod.backends import ChatRequest
from llmprod.errors import ContextWindowExceededError, MissingDependencyError, ServerError

from .cutting import resumed_at_every_cut

MAX_LEN = 2048  # the tiny model's max_position_embeddings
ENGINE = {"gpu_memory_utilization": 0.1, "max_model_len": MAX_LEN, "max_num_seqs": 64, "dtype": "float32"}
on_the_engine = pytest.mark.asyncio(loop_scope="module")


def _drop_vllm_modules() -> None:
    for name in [n for n in sys.modules if n == "vllm" or n.startswith("vllm.")]:
        del sys.modules[name]


def _request(text: str = "hello engine", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("system", "be brief"), Message("user", text)), **kwargs)


class Counting:
    """The real backend, counting the calls that reach it; closing it leaves the shared engine up."""

    def __init__(self, backend: llmprod.VLLM) -> None:
        self.backend, self.name, self.calls = backend, backend.name, 0

    async def complete(self, request: ChatRequest) -> llmprod.ChatResponse:
        self.calls += 1
        return await self.backend.complete(request)

    def stream(self, request: ChatRequest) -> AsyncIterator[llmprod.ChatChunk]:
        self.calls += 1
        return self.backend.stream(request)

    async def aclose(self) -> None:
        pass


def _retrying_client(backend: Counting) -> AsyncClient:
    return AsyncClient(backend, retry=llmprod.Retry(attempts=3, initial=0.0), breaker=None, telemetry=False)


# --- without vLLM -------------------------------------------------------------------------


def test_missing_vllm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _drop_vllm_modules()
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError, installed or not
    with pytest.raises(MissingDependencyError) as info:
        llmprod.VLLM("some/model")
    assert info.value.package == "vllm"
    assert "pip install 'llmprod[vllm]'" in str(info.value)


def test_importing_the_backend_does_not_import_vllm() -> None:
    code = "import sys, llmprod.backends.vllm\nprint('vllm' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"quantization": "int3"}, "vllm.quantization"),
        ({"gpu_memory_utilization": 1.5}, "vllm.gpu_memory_utilization"),
        ({"tensor_parallel_size": 0}, "vllm.tensor_parallel_size"),
        ({"max_num_seqs": 0}, "vllm.max_num_seqs"),
    ],
)
def test_bad_options_are_config_errors_before_vllm_is_imported(options: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        llmprod.VLLM("m", **options)
    assert info.value.path == path


# --- vLLM's engine configuration (no engine started) ----------------------------------------


@pytest.fixture(scope="module")
def vllm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("vllm")
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may reach the Hub
    from llmprod.testing.tiny_model import VLLM_CPU_SHAPE, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("vllm-model"), max_positions=MAX_LEN, **VLLM_CPU_SHAPE)


def test_an_unknown_engine_argument_is_a_config_error(vllm_model: Path) -> None:
    with pytest.raises(ConfigError) as info:
        llmprod.VLLM(str(vllm_model), engine_args={"no_such_argument": 1})
    assert info.value.path == "vllm.engine_args"


def test_every_documented_option_reaches_vllms_engine_config(vllm_model: Path) -> None:
    spec = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4}
    backend = llmprod.VLLM(
        str(vllm_model),
        quantization="fp8",
        enable_prefix_caching=False,
        speculative_config=spec,
        tensor_parallel_size=2,
        pipeline_parallel_size=2,
        gpu_memory_utilization=0.75,
        max_num_seqs=32,
        max_model_len=1024,
        dtype="half",
        engine_args={"enforce_eager": True},
    )
    config = backend.engine_args.create_engine_config()  # vLLM's own parsing and checks
    assert (config.model_config.quantization, config.model_config.max_model_len) == ("fp8", 1024)
    assert str(config.model_config.dtype) == "torch.float16"
    assert config.model_config.enforce_eager is True
    assert (config.cache_config.enable_prefix_caching, config.cache_config.gpu_memory_utilization) == (False, 0.75)
    assert (config.parallel_config.tensor_parallel_size, config.parallel_config.pipeline_parallel_size) == (2, 2)
    assert config.scheduler_config.max_num_seqs == 32
    assert config.speculative_config is not None
    assert (config.speculative_config.method, config.speculative_config.num_speculative_tokens) == ("ngram", 4)


@pytest.mark.parametrize("quantization", ["awq", "gptq", "bitsandbytes"])
async def test_options_the_cpu_build_lacks_are_refused_clearly(vllm_model: Path, quantization: str) -> None:
    backend = llmprod.VLLM(str(vllm_model), quantization=quantization, gpu_memory_utilization=0.1)
    with pytest.raises(ConfigError, match="vLLM refused the engine options") as info:
        await backend.start()  # refused by vLLM's config checks, before any process starts
    assert info.value.path == "vllm"
    assert backend.engine is None


def _on_vllm_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.device_type == "cpu")


@pytest.mark.parametrize("options", [{"quantization": "fp8"}, {"tensor_parallel_size": 2}])
async def test_options_the_cpu_build_cannot_run_fail_the_start_clearly(
    vllm_model: Path, options: dict[str, Any]
) -> None:
    if not _on_vllm_cpu():
        pytest.skip("these options run on a GPU")
    # fp8: the AVX2 CPU build has no fp8 kernels; tensor_parallel_size=2: one NUMA node cannot hold two CPU workers.
    backend = llmprod.VLLM(str(vllm_model), gpu_memory_utilization=0.1, max_model_len=256, **options)
    with pytest.raises(ServerError, match="the vLLM engine failed to start") as info:
        await backend.start()
    assert not info.value.retryable
    assert "gpu_memory_utilization is the share of host memory" in str(info.value)  # what to try on CPU
    assert backend.engine is None


# --- the real engine, shared by the module --------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend(vllm_model: Path) -> AsyncIterator[llmprod.VLLM]:
    engine = llmprod.VLLM(str(vllm_model), enable_prefix_caching=True, name="cpu-a", **ENGINE)
    await engine.start()
    yield engine
    await engine.aclose()


def _unfinished(backend: llmprod.VLLM) -> int:
    return int(backend.engine.get_num_unfinished_requests())  # vLLM's own count of live requests


def _scheduler_gauge(backend: llmprod.VLLM, name: str) -> float | None:
    """What vLLM's engine core last reported (its Prometheus gauges), e.g. requests running."""
    import prometheus_client

    labels = {"model_name": backend.model, "engine": "0"}
    return prometheus_client.REGISTRY.get_sample_value(f"vllm:{name}", labels)


async def _wait_until(condition: Any, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@on_the_engine
async def test_the_documented_options_reached_the_running_engine(backend: llmprod.VLLM) -> None:
    config = backend.engine.vllm_config
    assert (config.scheduler_config.max_num_seqs, config.model_config.max_model_len) == (64, MAX_LEN)
    assert (config.cache_config.gpu_memory_utilization, config.cache_config.enable_prefix_caching) == (0.1, True)
    assert str(config.model_config.dtype) == "torch.float32"


@on_the_engine
async def test_complete_applies_the_chat_template_and_reports_usage(backend: llmprod.VLLM) -> None:
    response = await backend.complete(_request(max_tokens=5, temperature=0.0, seed=7))
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello engine"}]
    prompt = backend._tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    prompt = prompt["input_ids"] if isinstance(prompt, dict) or hasattr(prompt, "keys") else prompt
    assert response.text and response.finish_reason == "length"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (len(prompt), 5)
    assert response.deployment == "cpu-a" and response.id.startswith("vllm-")  # the caller's id, not vLLM's
    assert _unfinished(backend) == 0


@on_the_engine
async def test_unset_max_tokens_runs_to_the_context_limit_not_vllms_default_of_16(backend: llmprod.VLLM) -> None:
    response = await backend.complete(_request(temperature=0.0))  # greedy: never the muted end-of-turn token
    assert response.finish_reason == "length"
    assert response.usage.prompt_tokens + response.usage.completion_tokens == MAX_LEN


@on_the_engine
async def test_a_stop_string_ends_the_answer(backend: llmprod.VLLM) -> None:
    full = await backend.complete(_request(max_tokens=30, temperature=0.0))
    stop = full.text[10:14]
    cut = await backend.complete(_request(max_tokens=30, temperature=0.0, stop=(stop,)))
    assert (cut.text, cut.finish_reason) == (full.text[: full.text.find(stop)], "stop")


@on_the_engine
async def test_stream_yields_deltas_that_add_up_to_the_greedy_answer(backend: llmprod.VLLM) -> None:
    whole = await backend.complete(_request("count for me", max_tokens=24, temperature=0.0))
    chunks = [c async for c in backend.stream(_request("count for me", max_tokens=24, temperature=0.0))]
    texts = [c.text for c in chunks[:-1]]
    final = chunks[-1]
    assert len(texts) > 5 and all(texts)  # DELTA: many small pieces, not one cumulative text
    assert final.response is not None
    assert "".join(texts) == final.response.text == whole.text
    assert (final.finish_reason, final.usage) == ("length", whole.usage)


@on_the_engine
async def test_64_concurrent_calls_are_in_the_engine_at_once(backend: llmprod.VLLM) -> None:
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, _unfinished(backend))
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    try:
        requests = [_request(f"question {i}", max_tokens=64, temperature=0.0) for i in range(64)]
        answers = await asyncio.gather(*(backend.complete(r) for r in requests))
    finally:
        watcher.cancel()
    assert most == 64
    assert len({a.id for a in answers}) == 64
    assert all(a.usage.completion_tokens == 64 and a.text for a in answers)
    assert _unfinished(backend) == 0


@on_the_engine
async def test_cancelling_the_caller_aborts_the_engine_request(backend: llmprod.VLLM) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.stream(_request("write a long story", max_tokens=1500)):
            first.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(60):
        await first.wait()
    assert _unfinished(backend) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _unfinished(backend) == 0  # the front end dropped it at once
    after = await backend.complete(_request("still serving?", max_tokens=3))
    assert after.usage.completion_tokens == 3
    # The engine core's own count, reported with that step: the cancelled request is gone there too.
    assert (_scheduler_gauge(backend, "num_requests_running"), _scheduler_gauge(backend, "num_requests_waiting")) == (
        0,
        0,
    )


@on_the_engine
async def test_a_caller_that_stops_reading_aborts_the_engine_request(backend: llmprod.VLLM) -> None:
    stream = backend.stream(_request(max_tokens=1500))
    assert (await anext(stream)).text
    assert _unfinished(backend) == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert _unfinished(backend) == 0


@on_the_engine
async def test_a_too_long_prompt_is_a_context_window_error_and_not_retried(backend: llmprod.VLLM) -> None:
    counting = Counting(backend)
    client = _retrying_client(counting)
    with pytest.raises(ContextWindowExceededError, match="maximum model length"):
        await client.chat("word " * 3000, max_tokens=4)  # vLLM's own length check, typed
    assert counting.calls == 1
    with pytest.raises(ContextWindowExceededError):
        await backend.complete(_request("word " * (MAX_LEN - 40)))  # exactly at the limit: no room to answer
    assert _unfinished(backend) == 0


@on_the_engine
@pytest.mark.parametrize(
    ("request_options", "field"),
    [
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"extra_body": {"top_k": -5}}, "top_k"),
        ({"extra_body": {"min_p": 2.0}}, "min_p"),
        ({"extra_body": {"no_such_sampling_param": 1}}, "extra_body"),
    ],
)
async def test_bad_sampling_values_are_invalid_requests(
    backend: llmprod.VLLM, request_options: dict[str, Any], field: str
) -> None:
    # Straight to the backend: vLLM's SamplingParams checks refuse these (VLLMValidationError).
    with pytest.raises(InvalidRequestError) as info:
        await backend.complete(_request("x", max_tokens=4, **request_options))
    assert info.value.field == field
    assert info.value.__cause__ is not None  # vLLM's own refusal, kept as the cause
    assert _unfinished(backend) == 0


@on_the_engine
@pytest.mark.parametrize("extra_body", [{"top_k": -5}, {"min_p": 2.0}, {"no_such_sampling_param": 1}])
async def test_bad_sampling_values_are_not_retried(backend: llmprod.VLLM, extra_body: dict[str, Any]) -> None:
    counting = Counting(backend)
    with pytest.raises(InvalidRequestError):
        await _retrying_client(counting).chat("x", max_tokens=4, extra_body=extra_body)
    assert counting.calls == 1


@on_the_engine
async def test_finish_reason_error_is_a_retryable_server_error(
    backend: llmprod.VLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_generate = backend.engine.generate

    async def failing(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        # The one mock here (see the module docstring): the real engine's last output, marked as vLLM marks a failure.
        async for output in real_generate(*args, **kwargs):
            if output.finished:
                output.outputs[0].finish_reason = "error"
            yield output

    monkeypatch.setattr(backend.engine, "generate", failing)
    with pytest.raises(ServerError) as info:
        await backend.complete(_request(max_tokens=4))
    assert info.value.retryable
    chunks: list[str] = []
    with pytest.raises(ServerError):
        async for chunk in backend.stream(_request(max_tokens=4)):
            chunks.append(chunk.text)
    counting = Counting(backend)
    with pytest.raises(ServerError):
        await _retrying_client(counting).chat("x", max_tokens=4)
    assert counting.calls == 3  # retried, as vLLM's own server's 500 would be


@on_the_engine
async def test_prefix_caching_shows_as_cached_tokens(backend: llmprod.VLLM) -> None:
    prefix = "a shared preamble of the test " + " ".join(f"clause{i}" for i in range(200))
    first = await backend.complete(_request(prefix + " first question", max_tokens=2))
    second = await backend.complete(_request(prefix + " second question", max_tokens=2))
    block = backend.engine.vllm_config.cache_config.block_size  # 128 on vLLM's CPU build
    assert first.usage.cached_tokens == 0
    assert second.usage.prompt_tokens > 2 * block
    assert second.usage.cached_tokens >= block and second.usage.cached_tokens % block == 0


@on_the_engine
async def test_ngram_speculative_decoding_keeps_the_greedy_answer(backend: llmprod.VLLM, vllm_model: Path) -> None:
    spec = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4}
    speculative = llmprod.VLLM(str(vllm_model), speculative_config=spec, **ENGINE)
    request = _request("repeat after me: one two three one two three", max_tokens=24, temperature=0.0)
    try:
        await speculative.start()
        assert speculative.engine.vllm_config.speculative_config.num_speculative_tokens == 4
        answer = await speculative.complete(request)
    finally:
        await speculative.aclose()
    assert answer.text == (await backend.complete(request)).text


RESUMED = "please write a list"  # a greedy answer this model writes in pieces the tokenizer merges


@on_the_engine
async def test_a_greedy_stream_broken_after_any_chunk_resumes_to_exactly_the_uncut_answer(
    backend: llmprod.VLLM,
) -> None:
    retokenized_otherwise = await resumed_at_every_cut(backend, RESUMED, temperature=0.0)
    assert _unfinished(backend) == 0
    # Tokenizing the received text again gives other tokens at some cuts (the model wrote
    # words in pieces the tokenizer merges): continuing from those, a greedy answer may go
    # elsewhere. The engine continues from the tokens it generated instead.
    assert retokenized_otherwise > 0


@on_the_engine
async def test_a_continuation_it_has_no_tokens_for_is_rendered_open(backend: llmprod.VLLM) -> None:
    request = backend.continuation(_request(max_tokens=8, temperature=0.0), "The river")
    assert request.messages[-1] == Message("assistant", "The river")
    assert request.extra_body == {"continue_final_message": True, "add_generation_prompt": False}
    assert request.max_tokens == 8  # nothing known of the earlier part: the caller's budget stands
    prompt = backend._render(request)
    assert backend._tokenizer.decode(prompt).endswith("<|user|>hello engine<|end|><|assistant|>The river")
    chunks = [c async for c in backend.stream(request)]  # the flags reach the template, not SamplingParams
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (len(prompt), 8)


@on_the_engine
async def test_aclose_ends_every_call_in_flight_with_a_typed_error(backend: llmprod.VLLM) -> None:
    """Runs last: it shuts the module's engine down."""
    started = [asyncio.Event() for _ in range(4)]
    errors: list[BaseException] = []

    async def consume(i: int) -> None:
        try:
            async for _ in backend.stream(_request(f"story {i}", max_tokens=1800)):
                started[i].set()
        except Exception as exc:
            errors.append(exc)

    tasks = [asyncio.create_task(consume(i)) for i in range(4)]
    async with asyncio.timeout(60):
        for event in started:
            await event.wait()
    complete = asyncio.create_task(backend.complete(_request("a whole answer", max_tokens=1800)))
    await _wait_until(lambda: _unfinished(backend) == 5)
    await backend.aclose()
    async with asyncio.timeout(10):  # before the fix they waited forever
        await asyncio.gather(*tasks)
        with pytest.raises(ServerError) as info:
            await complete
    assert len(errors) == 4
    assert all(isinstance(e, ServerError) and not e.retryable for e in [*errors, info.value]), [*errors, info.value]
    assert backend.engine is None


# --- where the engine is started from -------------------------------------------------------

UNGUARDED_SCRIPT = """\
import asyncio
import sys

import llmprod

backend = llmprod.VLLM(sys.argv[1], gpu_memory_utilization=0.1, max_model_len=256)


async def main():
    await backend.start()  # load the model before the first call's deadline starts
    async with llmprod.AsyncClient(backend, retry=None, telemetry=False) as client:
        response = await client.chat("hello", max_tokens=4)
    print("ANSWER", response.usage.completion_tokens, flush=True)


asyncio.run(main())
"""


def test_a_script_without_a_main_guard_works(vllm_model: Path, tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(script), str(vllm_model)], capture_output=True, text=True, timeout=420, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ANSWER 4" in done.stdout


def test_a_notebook_works(vllm_model: Path, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    cells = [
        "import llmprod",
        f"backend = llmprod.VLLM({str(vllm_model)!r}, gpu_memory_utilization=0.1, max_model_len=256)",
        "await backend.start()  # top-level await: the engine runs on the kernel's own loop",
        "client = llmprod.AsyncClient(backend, retry=None, telemetry=False)",
        "response = await client.chat('hello', max_tokens=4)\nprint('ANSWER', response.usage.completion_tokens)",
        "await client.aclose()",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nbclient.NotebookClient(
        notebook, timeout=420, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, json.dumps(errors)[:3000]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "ANSWER 4" in printed
