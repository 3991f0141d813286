"""Token counts: equal to tiktoken's for OpenAI models, from the encodings shipped in the
package (no network, no cache); flagged approximations when no encoding loads.

The reference is tiktoken's own loader and constructors (``tiktoken.encoding_for_model``),
reading a private cache that the module fixture fills from the shipped files, so the
pattern and special tokens llmprod restates are checked against tiktoken's.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken
from tiktoken_ext import openai_public

from llmprod._core.models import Message
from llmprod.cost import _encodings
from llmprod.cost._encodings import SHIPPED, Spec, load_shipped
from llmprod.cost._tokens import count_messages, count_text, encoding_name, encodings

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
PACKAGE = Path(_encodings.__file__).resolve().parents[1]
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@pytest.fixture(scope="module", autouse=True)
def tiktoken_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """tiktoken's own cache, filled from the shipped files under tiktoken's cache names."""
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for name in SHIPPED:
        packed = (PACKAGE / "data" / "tiktoken" / f"{name}.tiktoken.gz").read_bytes()
        (cache / hashlib.sha1(_URL.format(name).encode()).hexdigest()).write_bytes(gzip.decompress(packed))
    saved = {k: os.environ.pop(k) for k in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR") if k in os.environ}
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    yield
    del os.environ["TIKTOKEN_CACHE_DIR"]
    os.environ.update(saved)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_files_are_the_ones_tiktoken_publishes(name: str) -> None:
    packed = (PACKAGE / "data" / "tiktoken" / f"{name}.tiktoken.gz").read_bytes()
    digest = hashlib.sha256(gzip.decompress(packed)).hexdigest()
    assert digest == SHIPPED[name].sha256
    # tiktoken keeps the hash it checks a download against inside its constructor's code.
    assert f'expected_hash="{digest}"' in inspect.getsource(openai_public.ENCODING_CONSTRUCTORS[name])


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_encodings_equal_tiktokens_own(name: str) -> None:
    ours, theirs = load_shipped(name), tiktoken.get_encoding(name)
    assert ours is not None
    assert ours._pat_str == theirs._pat_str and ours._special_tokens == theirs._special_tokens
    assert ours._mergeable_ranks == theirs._mergeable_ranks and ours.n_vocab == theirs.n_vocab


def test_a_shipped_file_that_fails_its_hash_is_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = SHIPPED["o200k_base"]._replace(sha256="0" * 64)
    monkeypatch.setitem(SHIPPED, "o200k_base", Spec(*wrong))
    encodings.reset()
    try:
        assert count_text("x" * 40, "gpt-4o") == (10, True)
    finally:
        monkeypatch.undo()
        encodings.reset()
    assert "could not load tiktoken encoding o200k_base (CorruptEncodingError)" in caplog.text
    assert count_text("x" * 40, "gpt-4o").estimated is False


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
    import json, logging, os, sys, threading
    attempts, fetch_started = [], threading.Event()
    STRIP = os.environ.get("STRIP_SHIPPED") == "1"
    def guard(event, args):
        # Every way out to the network goes through these: record, then refuse or hang
        # (a download that never finishes), as chosen.
        if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            attempts.append(event)
            fetch_started.set()
            if os.environ.get("HANG_NETWORK") == "1":
                threading.Event().wait()
            raise OSError("network use is not allowed in this test")
        # A packager that strips the data files: the shipped encodings cannot be read.
        if STRIP and event == "open" and str(args[0]).endswith(".tiktoken.gz"):
            raise PermissionError("stripped")
    sys.addaudithook(guard)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from llmprod.cost._tokens import count_text, count_messages
    first = count_text("x" * 40, "gpt-4o")
    second = count_text("y" * 41, "gpt-4o")
    chat = count_messages([{"role": "user", "content": "z" * 8}], "gpt-4o")
    print(json.dumps({"first": first, "second": second, "chat": chat, "tiktoken": "tiktoken" in sys.modules}))
    sys.stdout.flush()
    if os.environ.get("HANG_NETWORK") == "1":
        fetch_started.wait(60)  # the background fetch, which the counts above did not wait for
    print(json.dumps({"attempts": attempts}))
    """
)


def _run_offline(tmp_path: Path, **env: str) -> tuple[dict[str, object], str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    # An empty tiktoken cache; the timeout only turns a hang into a failure. ``-I``: the
    # script's own network guard must be the first to see a connection (no sitecustomize).
    out = subprocess.run(
        [sys.executable, "-I", "-c", _OFFLINE],
        env={**clean, "TIKTOKEN_CACHE_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts, network = out.stdout.splitlines()
    return {**json.loads(counts), **json.loads(network)}, out.stderr


def test_counts_are_exact_with_no_cache_and_no_network(tmp_path: Path) -> None:
    result, stderr = _run_offline(tmp_path)
    o200k = tiktoken.get_encoding("o200k_base")
    assert result["first"] == [len(o200k.encode("x" * 40)), False]
    assert result["chat"] == [3 + 1 + len(o200k.encode("z" * 8)) + 3, False]
    assert result["attempts"] == [] and stderr == ""
    assert list(tmp_path.iterdir()) == []  # nothing written to tiktoken's cache either


def test_without_any_encoding_counts_are_approximate_flagged_and_warned_once(tmp_path: Path) -> None:
    result, stderr = _run_offline(tmp_path, STRIP_SHIPPED="1", LLMPROD_TIKTOKEN_DOWNLOAD="0")
    assert result["first"] == [10, True]  # 40 characters, ~4 a token, flagged estimated
    assert result["second"] == [11, True]
    assert result["chat"] == [3 + 1 + 2 + 3, True]  # role "user" ~1, content 8 chars ~2, overheads exact
    assert result["attempts"] == []  # nothing tried to reach the network
    assert result["tiktoken"] is False  # not even imported: the files were looked for first
    assert stderr.count("is not in the cache") == 1


def test_the_default_download_runs_in_the_background_and_never_blocks(tmp_path: Path) -> None:
    # The fetch of a missing encoding hangs forever here; the counts come back anyway,
    # approximate, and only then does the script see that the fetch had started.
    result, stderr = _run_offline(tmp_path, STRIP_SHIPPED="1", HANG_NETWORK="1")
    assert result["first"] == [10, True]
    assert result["attempts"] != []  # the background fetch did try
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
