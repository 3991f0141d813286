"""A tiny random-weight chat model, built offline, for tests, examples and GPU checks.

    from llmprod.testing.tiny_model import build_tiny_model

    path = build_tiny_model("/tmp/tiny")          # a folder transformers can load
    backend = llmprod.Transformers(str(path))

Nothing is downloaded: a byte-level BPE tokenizer is trained with the ``tokenizers``
library on generated English, wrapped as a ``PreTrainedTokenizerFast`` with a small
chat template, and saved beside a ``LlamaForCausalLM`` with seeded random weights.
The answers are gibberish, but they are real generation: the same seed and prompt give
the same greedy answer. Special tokens (end of turn included) and bytes that are not
printable ASCII are never the greedy choice, so an answer runs to ``max_tokens``
unless a stop string ends it; a test that needs an end-of-sequence token names one
in ``generation_config.json``.

vLLM's CPU attention (0.32) takes head sizes 32, 64, 80, ... but not the default
model's 16: ``build_tiny_model(path, **VLLM_CPU_SHAPE)`` gives head size 64 (hidden 128,
2 heads), which vLLM's CPU build loads in about 30 s.

Needs ``torch``, ``transformers`` and ``tokenizers`` (``pip install torch==2.13.0
'llmprod[transformers]'``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

VLLM_CPU_SHAPE: dict[str, int] = {"hidden_size": 128, "num_heads": 2}

_WORDS = (
    "the a one every some model answer request token batch engine server client stream cache retry "
    "quick slow small large red blue green bright quiet steady careful busy tired happy "
    "runs reads writes sends waits stops starts builds checks counts learns keeps finds gives "
    "and but so then while because after before when if "
    "river mountain city garden window kitchen library market station forest harbor bridge "
    "morning evening today tomorrow always never often sometimes "
    "hello thanks please yes no maybe write story poem list summary question reply"
).split()


def sample_text(*, sentences: int = 400, seed: int = 0) -> str:
    """A few KB of plain English-like sentences (deterministic for a seed)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 12))]
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + rng.choice((".", ".", "?", "!")))
    return "\n".join(lines)


def build_tiny_model(
    path: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    vocab_size: int = 512,
    max_positions: int = 2048,
    seed: int = 0,
) -> Path:
    """Train the tokenizer, build the model and ``save_pretrained`` both into ``path``.

    Models built with the same ``vocab_size`` share one tokenizer, so a small one can
    be the draft model of a bigger one (assisted decoding). Returns ``path``.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(vocab_size)
    tokenizer.save_pretrained(out)
    # Special tokens and stray bytes (half a UTF-8 character) are never chosen.
    special = {tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    muted = [i for i in range(len(tokenizer)) if i in special or not _plain_text(tokenizer.decode([i]))]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=max_positions,
        initializer_range=0.1,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # A zero row gives a zero logit, never the largest among hundreds of random ones.
        model.lm_head.weight[muted] = 0.0
    model.save_pretrained(out)
    return out


def _plain_text(text: str) -> bool:
    return bool(text) and text.isascii() and text.isprintable()


def _train_tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(sample_text().splitlines(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call,unused-ignore]
        tokenizer_object=tokenizer,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|pad|>",
        additional_special_tokens=list(SPECIAL_TOKENS[3:]),
        padding_side="left",
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped
