"""Random values thrown at every public constructor and every chat/stream argument: the only
errors that may come out are LLMProdError subclasses (a call with valid values may succeed).

The calls go to the simulated provider (in process) and to the fault server over HTTP.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmprod
from llmprod import LLMProdError, backends
from llmprod.testing import FakeBackend, FaultServer

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BACKEND = FakeBackend(lambda r: "ok")


class Opaque:
    """An object of a type no API expects."""


def _mixed() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 1, 0.5, 2.5, 10**9]),
        st.text(max_size=12),
        st.sampled_from(["", "p95", "mask", "total", "client", "wait", "block", "user", "gpt-4o", "caf\udce9"]),
        st.binary(max_size=8),
        st.builds(Opaque),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.tuples(inner),
            st.dictionaries(st.one_of(st.text(max_size=6), st.integers(), st.none()), inner, max_size=3),
            st.frozensets(st.integers(), max_size=2),
        ),
        max_leaves=6,
    )


VALUES = _mixed()


def _keywords(target: Callable[..., Any], *, skip: frozenset[str] = frozenset()) -> list[str]:
    parameters = inspect.signature(target).parameters.values()
    return [p.name for p in parameters if p.kind is not p.VAR_KEYWORD and p.name not in skip and p.name != "self"]


def _some_of(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.lists(st.sampled_from(names), unique=True, max_size=len(names)).flatmap(
        lambda chosen: st.fixed_dictionaries({name: VALUES for name in chosen})
    )


def _call(target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return target(*args, **kwargs)
    except LLMProdError:
        return None


CONFIGS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "Retry": (llmprod.Retry, {}),
    "Breaker": (llmprod.Breaker, {}),
    "Timeout": (llmprod.Timeout, {}),
    "Cache": (llmprod.Cache, {}),
    "PII": (llmprod.PII, {}),
    "Budget": (llmprod.Budget, {}),
    "Guards": (llmprod.Guards, {}),
    "RateLimit": (llmprod.RateLimit, {}),
    "Telemetry": (llmprod.Telemetry, {}),
    "Hedge": (llmprod.Hedge, {}),
    "Latency": (backends.Latency, {}),
    "CacheControl": (llmprod.CacheControl, {}),
    "Deployment": (llmprod.Deployment, {"replicas": [BACKEND]}),
    "ApiKey": (llmprod.ApiKey, {"name": "a", "key_sha256": "0" * 64}),
    "ApiKey.create": (llmprod.ApiKey.create, {"secret": "s", "name": "a"}),
    "AccessPolicy": (llmprod.AccessPolicy, {"keys": []}),
    "OpenAICompatible": (llmprod.OpenAICompatible, {"model": "m", "base_url": "http://127.0.0.1:9/v1"}),
    "OpenAICompatible.preset": (llmprod.OpenAICompatible.preset, {"preset": "vllm", "model": "m"}),
    "Anthropic": (llmprod.Anthropic, {"model": "m", "api_key": "k"}),
    "Cohere": (llmprod.Cohere, {"model": "m", "api_key": "k"}),
    "Simulated": (llmprod.Simulated, {}),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_constructors_raise_only_llmprod_errors(name: str) -> None:
    target, required = CONFIGS[name]
    names = _keywords(target) or list(required)
    if name == "OpenAICompatible.preset":
        names = ["preset", *_keywords(llmprod.OpenAICompatible)]

    @SETTINGS
    @given(_some_of(names))
    def check(chosen: dict[str, Any]) -> None:
        arguments = {**required, **chosen}
        if name == "OpenAICompatible.preset":
            _call(target, arguments.pop("preset"), **arguments)
        else:
            _call(target, **arguments)

    check()


CLIENT_KEYWORDS = _keywords(llmprod.AsyncClient, skip=frozenset({"deployments"}))


# llmprod._client.options.stack_config must call llmprod._core.option_checks.check_client_options
# first thing in AsyncClient.__init__; then this passes and the marker goes.
@SETTINGS
@given(_some_of(CLIENT_KEYWORDS), st.one_of(st.just(BACKEND), VALUES))
def test_client_constructor_keywords_raise_only_llmprod_errors(chosen: dict[str, Any], deployments: Any) -> None:
    client = _call(llmprod.Client, deployments, **chosen)
    if client is not None:
        client.close()


CALL_ARGUMENTS = [
    *_keywords(llmprod._core.request.build_request, skip=frozenset({"prompt", "unknown"})),
    "timeout",
]


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture(scope="module", params=["simulated", "fault server"])
def client(request: pytest.FixtureRequest, fault_server: FaultServer) -> Iterator[llmprod.Client]:
    if request.param == "simulated":
        backend: Any = llmprod.Simulated(latency=backends.Latency(median=0, p99=0), tokens_per_second=1e6)
    else:
        backend = llmprod.OpenAICompatible(base_url=fault_server.url, model="m")
    with llmprod.Client(
        backend,
        retry=None,
        pii=llmprod.PII(),
        rate_limit=llmprod.RateLimit(requests_per_minute=1e9, tokens_per_minute=1e12),
        cache=llmprod.Cache(),
        guards=llmprod.Guards(),
        telemetry=False,
    ) as made:
        yield made


@SETTINGS
@given(
    prompt=st.one_of(st.text(max_size=20), VALUES),
    chosen=_some_of(CALL_ARGUMENTS),
    mode=st.sampled_from(["chat", "stream"]),
)
def test_call_arguments_raise_only_llmprod_errors(
    client: llmprod.Client, prompt: Any, chosen: dict[str, Any], mode: str
) -> None:
    if "messages" in chosen:
        prompt = None
    if mode == "chat":
        _call(client.chat, prompt, **chosen)
    else:
        _call(lambda: list(client.stream(prompt, **chosen)))


MESSAGE_FIELDS = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["user", "assistant", "system", "tool"]), VALUES)},
    optional={"content": VALUES, "name": VALUES, "tool_calls": VALUES, "tool_call_id": VALUES, "extra": VALUES},
)


@SETTINGS
@given(messages=st.lists(st.one_of(MESSAGE_FIELDS, VALUES), max_size=3))
def test_messages_raise_only_llmprod_errors(client: llmprod.Client, messages: Any) -> None:
    _call(client.chat, messages=messages)


# The cases reported by hand, each once, end to end.


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"messages": [{"role": ["user"], "content": "hi"}]}, "messages[0].role"),  # unhashable role
        ({"user": 123}, "user"),  # with PII on
        ({"api_key": 123}, "api_key"),  # with a rate limit
        ({"extra_body": {"top_k": math.nan}}, "extra_body.top_k"),
        ({"prompt": "caf\udce9"}, "prompt"),
    ],
)
@pytest.mark.parametrize("mode", ["chat", "stream"])
def test_reported_call_arguments_are_invalid_request_errors(
    client: llmprod.Client, fault_server: FaultServer, kwargs: dict[str, Any], field: str, mode: str
) -> None:
    kwargs = {"prompt": "hi", **kwargs}
    if "messages" in kwargs:
        kwargs.pop("prompt")
    sent = len(fault_server.requests)
    with pytest.raises(llmprod.InvalidRequestError) as raised:
        if mode == "chat":
            client.chat(kwargs.pop("prompt", None), **kwargs)
        else:
            list(client.stream(kwargs.pop("prompt", None), **kwargs))
    assert raised.value.field == field and len(fault_server.requests) == sent


@pytest.mark.parametrize(
    ("make", "path"),
    [
        (lambda: llmprod.Retry(attempts="3"), "retry.attempts"),
        (lambda: llmprod.OpenAICompatible(base_url=5, model="m"), "openai.base_url"),
        (lambda: llmprod.Anthropic(model=5, api_key="k"), "anthropic.model"),
        (lambda: llmprod.Cohere("m", api_key=123), "cohere.api_key"),
        (lambda: llmprod.Simulated(failure_rate=math.nan), "simulated.failure_rate"),
        (lambda: llmprod.OpenAICompatible.preset(["vllm"], model="m"), "openai.preset"),
        (lambda: llmprod.AccessPolicy([None]), "access.keys[0]"),
        (lambda: llmprod.ApiKey.create(("s",), name="a"), "api_key.secret"),
    ],
)
def test_reported_constructor_arguments_are_config_errors(make: Callable[[], Any], path: str) -> None:
    with pytest.raises(llmprod.ConfigError) as raised:
        make()
    assert raised.value.path == path


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"retry": 3}, "retry"),
        ({"timeout": None}, "timeout"),
        ({"telemetry": "on"}, "telemetry"),
        ({"hooks": [None]}, "hooks[0]"),
        ({"redis_url": 6379}, "redis_url"),
        ({"deployments": 5}, "deployments"),
        ({"deployments": [BACKEND, "http://gpu-1"]}, "deployments[1]"),
        ({"layers": [print]}, "layers[0]"),
    ],
)
def test_client_options_are_checked_by_type(options: dict[str, Any], path: str) -> None:
    from llmprod._core.option_checks import check_client_options

    with pytest.raises(llmprod.ConfigError) as raised:
        check_client_options(options)
    assert raised.value.path == path
    check_client_options({"retry": None, "telemetry": False, "deployments": [BACKEND], "hooks": [print]})
