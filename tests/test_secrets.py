"""Secret hygiene: keys never show in repr(), errors or logs.

The session-wide sweep lives in tests/fixtures_secrets.py; these tests check the
sweep itself and the reprs of everything that holds a key.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pytest

import llmprod
from llmprod import errors
from llmprod.layers import as_layer
from llmprod.layers.ratelimit import RateLimitLayer
from llmprod.testing import FakeBackend, Fault, FaultServer
from tests.fixtures_secrets import (
    ANTHROPIC_TEST_KEY,
    COHERE_TEST_KEY,
    OPENAI_TEST_KEY,
    REDIS_TEST_PASSWORD,
    TENANT_KEY_A,
    TEST_KEYS,
    SecretCollector,
)

REDIS_URL = f"redis://:{REDIS_TEST_PASSWORD}@127.0.0.1:1/0"


def _texts(obj: Any) -> list[str]:
    return [repr(obj), str(obj)]


def _assert_clean(*objects: Any) -> None:
    for obj in objects:
        for text in _texts(obj):
            leaked = [key[:10] for key in TEST_KEYS if key in text]
            assert not leaked, f"{type(obj).__name__} shows {leaked} in {text[:200]!r}"


def test_the_collector_finds_a_key_in_a_log_record_and_an_error() -> None:
    collector = SecretCollector()
    logger = logging.getLogger("llmprod.tests.secret-sweep")
    logger.propagate = False  # keep this deliberate leak away from the session-wide sweep
    handler = collector.handler()
    logger.addHandler(handler)
    try:
        logger.debug("calling with %s", "no secret here")
        assert collector.leaks() == []
        logger.debug("calling with key %s", OPENAI_TEST_KEY)
    finally:
        logger.removeHandler(handler)
    collector.add("error", "AuthenticationError: bad key " + TENANT_KEY_A)
    found = {(where, key) for where, key, _ in collector.leaks()}
    assert found == {("log llmprod.tests.secret-sweep", OPENAI_TEST_KEY), ("error", TENANT_KEY_A)}


def test_configs_holding_secrets_do_not_show_them() -> None:
    _assert_clean(
        llmprod.RateLimit(requests_per_minute=1, redis_url=REDIS_URL),
        llmprod.Cache(redis_url=REDIS_URL),
        llmprod.Breaker(redis_url=REDIS_URL),
        llmprod.Budget(hard=1.0, redis_url=REDIS_URL),
        llmprod.AccessPolicy([llmprod.ApiKey.create(TENANT_KEY_A, name="a")]),
        llmprod.ApiKey.create(TENANT_KEY_A, name="a"),
    )


async def test_requests_backends_clients_and_layers_do_not_show_keys() -> None:
    backends = [
        llmprod.OpenAICompatible(model="gpt-4o-mini", api_key=OPENAI_TEST_KEY),
        llmprod.Anthropic("claude-3-5-haiku-latest", api_key=ANTHROPIC_TEST_KEY),
        llmprod.Cohere("command-r", api_key=COHERE_TEST_KEY),
    ]
    client = llmprod.AsyncClient(backends, retry=None, breaker=None, telemetry=False)
    request = llmprod.backends.ChatRequest(
        messages=(llmprod.Message("user", "hi"),), metadata=llmprod.backends.RequestMetadata(api_key=TENANT_KEY_A)
    )
    _assert_clean(*backends, client, request, request.metadata)
    await client.aclose()
    if importlib.util.find_spec("redis") is not None:  # the redis extra
        layer = RateLimitLayer(
            as_layer(FakeBackend(lambda r: "ok")), llmprod.RateLimit(requests_per_minute=1, redis_url=REDIS_URL), print
        )
        _assert_clean(layer, layer.buckets)
        await layer.aclose()


async def test_a_provider_error_that_echoes_the_key_does_not_carry_it(fault_server: FaultServer) -> None:
    fault_server.push(
        Fault.error(401, f"Incorrect API key provided: {OPENAI_TEST_KEY}", error_type="invalid_request_error")
    )
    backend = llmprod.OpenAICompatible(model="gpt-4o-mini", base_url=fault_server.url, api_key=OPENAI_TEST_KEY)
    async with llmprod.AsyncClient(backend, retry=None, breaker=None, telemetry=False) as client:
        with pytest.raises(llmprod.errors.AuthenticationError) as caught:
            await client.chat("hi")
    assert caught.value.status == 401
    assert fault_server.requests[0].headers["authorization"] == f"Bearer {OPENAI_TEST_KEY}"  # it was sent
    _assert_clean(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Incorrect API key provided: {OPENAI_TEST_KEY}.", "Incorrect API key provided: [REDACTED]."),
        ("invalid x-api-key sk-ant-api03-abcdefghijklmnop", "invalid x-api-key [REDACTED]"),
        ("GET https://h/v1?key=AIzaSyD-abc123&alt=json failed", "GET https://h/v1?[REDACTED]&alt=json failed"),
        ("Authorization: Bearer abc.def.ghi123", "Authorization: Bearer [REDACTED]"),
        ("key Zx81kLmN0pQrStUvWxYz12AbCdEfGhIjKlMn rejected", "key [REDACTED] rejected"),
        # ids, digests and model names that error texts quote are kept
        ("request id 123e4567-e89b-12d3-a456-426614174000", None),
        ("digest 9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e", None),
        ("model gpt-4o-mini-2024-07-18 not found; see the risk-assessment-framework doc", None),
        ("This model's maximum context length is 8192 tokens", None),
    ],
)
def test_scrub_secrets(text: str, expected: str | None) -> None:
    from llmprod._safety.secrets import scrub_secrets

    assert scrub_secrets(text) == (text if expected is None else expected)


@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.parametrize(
    "body",
    [
        f'{{"id": "x", "echo": "Bearer {OPENAI_TEST_KEY}", "choices": [{{"mess',
        f"<html>key={OPENAI_TEST_KEY} jo.smith@example.com said hello</html>",
        f'{{"choices": [{{"message": {{"content": 5}}}}], "key": "{OPENAI_TEST_KEY}"}}',
    ],
    ids=["broken JSON", "html", "wrong shape"],
)
async def test_a_malformed_body_that_echoes_a_key_is_not_quoted(
    fault_server: FaultServer, mode: str, body: str
) -> None:
    fault_server.push(Fault(body=body.encode()))
    backend = llmprod.OpenAICompatible(model="m", base_url=fault_server.url, api_key=OPENAI_TEST_KEY)
    async with llmprod.AsyncClient(backend, retry=None, breaker=None, telemetry=False) as client:
        with pytest.raises(errors.MalformedResponseError) as caught:
            if mode == "chat":
                await client.chat("hi")
            else:
                [c async for c in client.stream("hi")]
    _assert_clean(caught.value)
    assert "jo.smith@example.com" not in str(caught.value)  # nor anything else the body said


async def test_a_key_cut_by_the_error_length_limit_is_still_scrubbed(fault_server: FaultServer) -> None:
    # The provider's message is kept to 500 characters: scrubbing must come first, or the
    # cut leaves a key prefix too short to look like a key.
    message = "x" * 490 + " " + OPENAI_TEST_KEY
    fault_server.push(Fault.error(400, message))
    backend = llmprod.OpenAICompatible(model="m", base_url=fault_server.url, api_key=OPENAI_TEST_KEY)
    async with llmprod.AsyncClient(backend, retry=None, breaker=None, telemetry=False) as client:
        with pytest.raises(errors.BadRequestError) as caught:
            await client.chat("hi")
    assert OPENAI_TEST_KEY[:8] not in str(caught.value)


def test_a_cohere_generation_error_that_echoes_a_key_is_scrubbed() -> None:
    from llmprod.backends.cohere import finish_reason

    bare = "Zx81kLmN0pQrStUvWxYz12AbCdEfGhIjKlMnOpQr"  # the shape of a real Cohere key: 40 random characters
    with pytest.raises(errors.ServerError) as caught:
        finish_reason("ERROR", deployment="cohere:m", error=f"refused Bearer {COHERE_TEST_KEY}; key {bare}")
    assert COHERE_TEST_KEY not in str(caught.value) and bare not in str(caught.value)


def test_a_transport_error_quoting_a_url_with_a_key_is_scrubbed() -> None:
    import httpx

    from llmprod.backends._http_errors import map_http_errors

    with pytest.raises(errors.ProviderConnectionError) as caught, map_http_errors("d"):
        raise httpx.ReadError(f"failed reading https://h/v1?api_key={OPENAI_TEST_KEY}&x=1")
    assert OPENAI_TEST_KEY not in str(caught.value)
