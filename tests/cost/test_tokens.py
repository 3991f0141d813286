"""Token counts: equal to tiktoken's for OpenAI models; flagged approximations offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import tiktoken

from llmprod._core.models import Message
from llmprod.cost._tokens import cached_file, count_messages, count_text, encoding_name, encodings

TEXTS = [
    "",
    "hello",
    "Summarize this ticket: the printer on floor 3 is on fire again.",
    "naïve café — 東京 🚀 <|endoftext|> tabs\tand\nnewlines",
    "def f(x):\n    return x ** 2  # code counts too\n" * 20,
]
MODELS = [
    "gpt-4o",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1",
    "o3-mini",
    "gpt-5",
    "gpt-4",
    "gpt-3.5-turbo",
    "text-embedding-3-small",
]


@pytest.fixture(autouse=True)
def _encodings_available() -> None:
    if cached_file("o200k_base") is None or cached_file("cl100k_base") is None:
        pytest.fail("tests need TIKTOKEN_CACHE_DIR pointing at ../shared/tiktoken (tests/conftest.py sets it)")
    encodings.reset()


@pytest.mark.parametrize("model", MODELS)
def test_encoding_matches_tiktokens_own_model_table(model: str) -> None:
    assert encoding_name(model) == tiktoken.encoding_for_model(model).name


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("text", TEXTS)
def test_text_counts_equal_tiktoken(model: str, text: str) -> None:
    expected = len(tiktoken.encoding_for_model(model).encode(text, disallowed_special=()))
    assert count_text(text, model) == (expected, False)


def _cookbook(messages: list[dict[str, str]], model: str) -> int:
    """OpenAI's published recipe ("How to count tokens with tiktoken"), written out independently."""
    enc = tiktoken.encoding_for_model(model)
    total = 0
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(enc.encode(value, disallowed_special=()))
            if key == "name":
                total += 1
    return total + 3


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "gpt-4", "gpt-3.5-turbo"])
def test_message_counts_follow_openais_recipe(model: str) -> None:
    chat = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "name": "jo", "content": "What is 2+2? Explain briefly."},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": TEXTS[3]},
    ]
    messages = [Message(role=m["role"], content=m["content"], name=m.get("name")) for m in chat]  # type: ignore[arg-type]
    assert count_messages(messages, model) == (_cookbook(chat, model), False)
    assert count_messages(chat, model) == (_cookbook(chat, model), False)


def test_unknown_models_use_the_default_encoding_and_are_still_counted() -> None:
    tokens, estimated = count_text("hello world", "llama-3.1-8b-instruct")
    assert (tokens, estimated) == (len(tiktoken.get_encoding("o200k_base").encode("hello world")), False)


_OFFLINE = textwrap.dedent(
    """
    import json, logging, socket, sys, time
    attempts = []
    def guard(event, args):
        # Every way out to the network goes through these: record and refuse.
        if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            attempts.append(event)
            raise OSError("network use is not allowed in this test")
    sys.addaudithook(guard)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from llmprod.cost._tokens import count_text, count_messages
    started = time.monotonic()
    first = count_text("x" * 40, "gpt-4o")
    second = count_text("y" * 41, "gpt-4o")
    chat = count_messages([{"role": "user", "content": "z" * 8}], "gpt-4o")
    print(json.dumps({"first": first, "second": second, "chat": chat, "attempts": attempts,
                      "seconds": time.monotonic() - started, "tiktoken": "tiktoken" in sys.modules}))
    """
)


def _run_offline(tmp_path: object, **env: str) -> tuple[dict[str, object], str]:
    import json

    clean = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    out = subprocess.run(
        [sys.executable, "-c", _OFFLINE],
        env={**clean, "TIKTOKEN_CACHE_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout), out.stderr


def test_offline_fallback_is_used_flagged_and_warned_once(tmp_path: object) -> None:
    result, stderr = _run_offline(tmp_path, LLMPROD_TIKTOKEN_DOWNLOAD="0")
    assert result["first"] == [10, True]  # 40 characters, ~4 a token, flagged estimated
    assert result["second"] == [11, True]
    assert result["chat"] == [3 + 1 + 2 + 3, True]  # role "user" ~1, content 8 chars ~2, overheads exact
    assert result["attempts"] == []  # nothing tried to reach the network
    assert result["tiktoken"] is False  # not even imported: the cache was checked first
    assert stderr.count("is not in the cache") == 1


def test_the_default_download_runs_in_the_background_and_never_blocks(tmp_path: object) -> None:
    # By default a background thread fetches the missing encoding; the count in hand is still
    # immediate and approximate. The fetch is refused by the audit guard here (no network).
    result, stderr = _run_offline(tmp_path)
    assert result["first"] == [10, True]
    assert float(str(result["seconds"])) < 5.0  # generous: no wait for a download
    assert stderr.count("is not in the cache") == 1


def test_a_calls_prompt_is_counted_once_until_its_messages_change() -> None:
    from dataclasses import replace

    from llmprod._core.models import ChatRequest, Message
    from llmprod.cost._tokens import count_request

    request = ChatRequest(messages=(Message("user", "hello there, count me"),), model="gpt-4o")
    first = count_request(request)
    assert count_request(replace(request, max_tokens=5)) is first  # same messages: the memo answers
    redacted = replace(request, messages=(Message("user", "hello there, [EMAIL]"),))
    second = count_request(redacted)
    assert second is not first and second == count_messages(redacted.messages, "gpt-4o")
