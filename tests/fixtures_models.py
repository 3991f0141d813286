"""Pytest plugin: tiny random-weight models built offline, once per test session.

``tiny_model`` is a folder with a small Llama and its trained tokenizer (see
:mod:`llmprod.testing.tiny_model`); ``tiny_draft_model`` a smaller one sharing the
tokenizer, for assisted decoding. Both skip the test where torch or transformers is
not installed (the no-extras CI session).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the tests may reach the Hub
    from llmprod.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_draft_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llmprod.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-draft"), hidden_size=32, num_layers=1, num_heads=2, seed=1)


@pytest.fixture(scope="session")
def tiny_vllm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model vLLM's CPU attention accepts (head size 64)."""
    pytest.importorskip("vllm")
    from llmprod.testing.tiny_model import VLLM_CPU_SHAPE, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-vllm"), max_positions=2048, **VLLM_CPU_SHAPE)
