"""Plain SDK and wrapped SDK, same random requests, same server: the same objects.

For each random valid request (chat completions, streamed or not, with n, logprobs,
extra headers, query and body; embeddings; the Responses API; Anthropic's messages),
the plain SDK client and ``llmprod.wrap`` of the same client call the same loopback
server. The SDK objects they return are compared field by field (every leaf of
``model_dump()``, streams event by event), and so are the requests the server received
(path with query, JSON body, the headers the SDK sets). The only difference allowed is
the provider's id, which the server numbers per request: the wrapped id must be the one
the server sent for the wrapped request. Each test prints how many cases and fields it
compared (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmprod
from llmprod.testing import FaultServer

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # base64 embeddings, plain and wrapped

CASES = 100
KEY = "sk-fidelity-0000"
# Headers the HTTP library sets per connection, and the trace context (new for every call
# when an OpenTelemetry SDK is installed: the anthropic SDK traces its calls); the SDK sets
# every other header itself.
_CONNECTION_HEADERS = frozenset(
    {"accept-encoding", "connection", "content-length", "host", "traceparent", "tracestate"}
)

words = st.sampled_from(["alpha", "bravo", "charlie", "delta", "echo", "hello", "world", "llm"])
text = st.lists(words, min_size=1, max_size=6).map(" ".join)
extra = st.fixed_dictionaries(
    {},
    optional={
        "extra_headers": st.fixed_dictionaries({"x-case": words}),
        "extra_query": st.fixed_dictionaries({"trace": words}),
        "extra_body": st.fixed_dictionaries({"top_k": st.integers(1, 40)}),
    },
)


def _chat_messages() -> st.SearchStrategy[list[dict[str, Any]]]:
    turn = st.one_of(
        st.builds(lambda t: {"role": "user", "content": t}, text),
        st.builds(lambda t: {"role": "user", "content": [{"type": "text", "text": t}]}, text),
        st.builds(lambda t: {"role": "assistant", "content": t}, text),
    )
    system = st.builds(lambda t: [{"role": "system", "content": t}], text)
    return st.tuples(st.one_of(st.just([]), system), st.lists(turn, min_size=1, max_size=3)).map(lambda p: p[0] + p[1])


chat_cases = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o-mini", "o3-mini", "gpt-4.1"]), "messages": _chat_messages()},
    optional={
        "max_completion_tokens": st.integers(1, 12),
        "temperature": st.floats(0, 2, allow_nan=False).map(lambda x: round(x, 2)),
        "top_p": st.floats(0.1, 1, allow_nan=False).map(lambda x: round(x, 2)),
        "n": st.integers(1, 3),
        "logprobs": st.just(True),
        "top_logprobs": st.integers(0, 3),
        "seed": st.integers(0, 2**31),
        "stop": st.one_of(words, st.lists(words, min_size=1, max_size=2)),
        "presence_penalty": st.floats(-2, 2, allow_nan=False).map(lambda x: round(x, 2)),
        "response_format": st.just({"type": "json_object"}),
        "service_tier": st.sampled_from(["default", "flex"]),
        "parallel_tool_calls": st.booleans(),
        "user": words,
        "stream": st.booleans(),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    },
).map(lambda case: {k: v for k, v in case.items() if k != "stream_options" or case.get("stream")})

embedding_cases = st.fixed_dictionaries(
    {"model": st.sampled_from(["text-embedding-3-small", "text-embedding-3-large"])},
    optional={"dimensions": st.integers(1, 16), "encoding_format": st.sampled_from(["float", "base64"])},
).flatmap(
    lambda case: st.builds(lambda i: {**case, "input": i}, st.one_of(text, st.lists(text, min_size=1, max_size=3)))
)

responses_cases = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["gpt-4o-mini", "gpt-4.1"]),
        "input": st.one_of(
            text, st.lists(st.builds(lambda t: {"role": "user", "content": t}, text), min_size=1, max_size=2)
        ),
    },
    optional={
        "instructions": text,
        "max_output_tokens": st.integers(16, 64),
        "temperature": st.floats(0, 2, allow_nan=False).map(lambda x: round(x, 2)),
        "top_p": st.floats(0.1, 1, allow_nan=False).map(lambda x: round(x, 2)),
        "stream": st.booleans(),
    },
)

openai_cases = st.one_of(
    st.tuples(st.just("chat"), chat_cases, extra),
    st.tuples(st.just("chat"), chat_cases, extra),
    st.tuples(st.just("embeddings"), embedding_cases, extra),
    st.tuples(st.just("responses"), responses_cases, extra),
)


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a nested dump, by path."""
    if isinstance(value, dict):
        out: dict[str, Any] = {path: {}} if not value else {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}.{key}"))
        return out
    if isinstance(value, list):
        out = {path: []} if not value else {}
        for index, item in enumerate(value):
            out.update(_leaves(item, f"{path}[{index}]"))
        return out
    return {path: value}


def _dump(result: Any) -> Any:
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    return [event.model_dump(mode="json") for event in result]  # a stream: every event


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.fields = 0
        self.by_kind: dict[str, int] = {}

    def compare(self, kind: str, plain: Any, wrapped: Any, plain_id: str, wrapped_id: str) -> None:
        text = json.dumps(wrapped).replace(wrapped_id, plain_id)
        assert wrapped_id in json.dumps(wrapped) or plain_id not in json.dumps(plain)
        left, right = _leaves(plain), _leaves(json.loads(text))
        assert left == right, {
            k: (left.get(k), right.get(k)) for k in left.keys() | right.keys() if left.get(k) != right.get(k)
        }
        self.cases += 1
        self.fields += len(left)
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def report(self, sdk: str) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items()))
        return f"{sdk}: {self.cases} cases ({kinds}), {self.fields} fields compared, all equal"


def _requests_agree(server: FaultServer, before: int) -> int:
    """The last two requests (plain, then wrapped) are the same request; the fields compared."""
    plain, wrapped = server.requests[before], server.requests[-1]
    assert len(server.requests) == before + 2
    assert (plain.method, plain.path, plain.body) == (wrapped.method, wrapped.path, wrapped.body)
    kept = {k: v for k, v in plain.headers.items() if k not in _CONNECTION_HEADERS}
    assert kept == {k: v for k, v in wrapped.headers.items() if k not in _CONNECTION_HEADERS}
    return len(_leaves(plain.body)) + len(kept) + 1


def _check_pair(
    server: FaultServer, tally: Tally, kind: str, call: Callable[[Any], Any], plain: Any, wrapped: Any
) -> None:
    before = len(server.requests)
    plain_result = _dump(call(plain))
    plain_id = f"fault-{len(server.requests)}"
    wrapped_result = _dump(call(wrapped))
    wrapped_id = f"fault-{len(server.requests)}"
    tally.fields += _requests_agree(server, before)
    tally.compare(kind, plain_result, wrapped_result, plain_id, wrapped_id)


def test_openai_plain_and_wrapped_agree_field_by_field() -> None:
    tally = Tally()
    with FaultServer() as server:
        plain = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
        wrapped = llmprod.wrap(openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0))

        @settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=openai_cases)
        def check(case: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
            kind, arguments, more = case
            resource = {"chat": "chat.completions", "embeddings": "embeddings", "responses": "responses"}[kind]

            def call(client: Any) -> Any:
                target = client
                for name in resource.split("."):
                    target = getattr(target, name)
                return target.create(**arguments, **more)

            _check_pair(server, tally, kind, call, plain, wrapped)

        check()
        wrapped.close()
        plain.close()
    print("\n" + tally.report("openai"))
    assert tally.cases == CASES and set(tally.by_kind) == {"chat", "embeddings", "responses"}


anthropic_cases = (
    st.fixed_dictionaries(
        {
            "model": st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5"]),
            "max_tokens": st.integers(1, 40),
            "messages": st.lists(
                st.one_of(text, st.builds(lambda t: [{"type": "text", "text": t}], text)), min_size=1, max_size=3
            ).map(
                lambda contents: [
                    {"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(contents)
                ]
            ),
        },
        optional={
            "system": st.one_of(text, st.builds(lambda t: [{"type": "text", "text": t}], text)),
            "service_tier": st.sampled_from(["auto", "standard_only"]),
            "stop_sequences": st.lists(words, min_size=1, max_size=2),
            "metadata": st.fixed_dictionaries({"user_id": words}),
        },
    )
    .flatmap(lambda case: st.builds(lambda stream: {**case, "stream": stream}, st.booleans()))
    .map(lambda case: {**case, "messages": case["messages"][: 1 + 2 * ((len(case["messages"]) - 1) // 2)]})
)


def test_anthropic_plain_and_wrapped_agree_field_by_field() -> None:
    anthropic = pytest.importorskip("anthropic")
    tally = Tally()
    with FaultServer() as server:
        plain = anthropic.Anthropic(base_url=server.base_url, api_key=KEY, max_retries=0)
        wrapped = llmprod.wrap(anthropic.Anthropic(base_url=server.base_url, api_key=KEY, max_retries=0))

        @settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(arguments=anthropic_cases, more=extra)
        def check(arguments: dict[str, Any], more: dict[str, Any]) -> None:
            kind = "messages (stream)" if arguments.get("stream") else "messages"
            _check_pair(server, tally, kind, lambda c: c.messages.create(**arguments, **more), plain, wrapped)

        check()
        wrapped.close()
        plain.close()
    print("\n" + tally.report("anthropic"))
    assert tally.cases == CASES and len(tally.by_kind) == 2
