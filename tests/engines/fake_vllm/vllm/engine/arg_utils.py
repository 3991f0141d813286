"""``EngineArgs`` / ``AsyncEngineArgs``: the engine arguments used by llmprod (vLLM 0.33.0 names)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class EngineArgs:
    """Arguments for the vLLM engine (the subset llmprod and its tests use)."""

    model: str = "Qwen/Qwen3-0.6B"
    tokenizer: str | None = None
    trust_remote_code: bool = False
    dtype: str = "auto"
    kv_cache_dtype: str = "auto"
    seed: int | None = 0
    max_model_len: int | None = None
    pipeline_parallel_size: int = 1
    tensor_parallel_size: int = 1
    block_size: int | None = None
    enable_prefix_caching: bool | None = None
    gpu_memory_utilization: float = 0.9
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    disable_log_stats: bool = False
    quantization: str | None = None
    enforce_eager: bool = False
    speculative_config: dict[str, Any] | None = None
    load_format: str = "auto"

    def __post_init__(self) -> None:
        if not self.tokenizer:
            self.tokenizer = self.model


@dataclass
class AsyncEngineArgs(EngineArgs):
    """Arguments for the asynchronous vLLM engine."""

    enable_log_requests: bool = False
