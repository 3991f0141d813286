"""Bad input is refused before anything is sent, with the offending field named."""

from __future__ import annotations

from typing import Any

import pytest

import llmprod
from llmprod._core.request import build_request


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "x", "colour": "red"}]}, "messages[0]"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "messages[0].content[0]"),
        ({"messages": ["just a string"]}, "messages[0]"),
        ({"prompt": "x", "max_tokens": -1}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 10**9}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 1.5}, "max_tokens"),
        ({"prompt": "x", "max_tokens": True}, "max_tokens"),
        ({"prompt": "x", "temperature": 2.5}, "temperature"),
        ({"prompt": "x", "temperature": -0.1}, "temperature"),
        ({"prompt": "x", "temperature": float("nan")}, "temperature"),
        ({"prompt": "x", "temperature": "hot"}, "temperature"),
        ({"prompt": "x", "top_p": 1.5}, "top_p"),
        ({"prompt": "x", "stop": [1, 2]}, "stop"),
        ({"prompt": "x", "seed": "abc"}, "seed"),
        ({"prompt": "x", "model": ""}, "model"),
        ({"prompt": "x", "extra_body": ["a"]}, "extra_body"),
        ({"prompt": "x", "tags": {"a": 1}}, "tags"),
        ({"prompt": 7}, "prompt"),
        ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, "messages"),
        ({"prompt": "x", "unknown": {"frobnicate": 1}}, "frobnicate"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    prompt = kwargs.pop("prompt", None)
    with pytest.raises(llmprod.InvalidRequestError) as info:
        build_request(prompt, **kwargs)
    assert info.value.field == field
    assert field in str(info.value)


def test_prompt_becomes_a_user_message_and_system_goes_first() -> None:
    request = build_request("hi", system="be brief", temperature=0.2, stop="END", max_tokens=5)
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[1].content == "hi"
    assert request.stop == ("END",)
    assert request.sampling() == {"max_tokens": 5, "temperature": 0.2, "stop": ["END"]}


def test_messages_keep_parts_tool_calls_and_extra_body() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    request = build_request(
        None,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ],
        extra_body={"top_k": 5},
    )
    assert request.messages[0].text() == "ab"
    assert request.messages[1].to_openai()["tool_calls"] == [call]
    assert request.extra_body == {"top_k": 5}


def test_api_key_is_not_in_the_request_repr() -> None:
    request = build_request("hi", api_key="sk-secret-do-not-show")
    assert "sk-secret-do-not-show" not in repr(request)


LONE_SURROGATE = "caf\udce9"  # what a bytes.decode(errors="surrogateescape") leaves behind
NAN, INF = float("nan"), float("inf")
CIRCULAR: dict[str, Any] = {}
CIRCULAR["self"] = CIRCULAR


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": LONE_SURROGATE}, "prompt"),
        ({"messages": [{"role": "user", "content": LONE_SURROGATE}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": LONE_SURROGATE}]}]},
            "messages[0].content[0].text",
        ),
        ({"messages": [{"role": "user", "content": "x", "name": LONE_SURROGATE}]}, "messages[0].name"),
        ({"prompt": "x", "system": LONE_SURROGATE}, "system"),
        ({"prompt": "x", "stop": ["ok", LONE_SURROGATE]}, "stop"),
        ({"prompt": "x", "model": LONE_SURROGATE}, "model"),
        ({"prompt": "x", "user": LONE_SURROGATE}, "user"),
        ({"prompt": "x", "api_key": LONE_SURROGATE}, "api_key"),
        ({"prompt": "x", "extra_body": {"top_k": NAN}}, "extra_body.top_k"),
        ({"prompt": "x", "extra_body": {"nested": {"deep": [1, INF]}}}, "extra_body.nested.deep[1]"),
        ({"prompt": "x", "extra_body": {"ids": {1, 2}}}, "extra_body.ids"),
        ({"prompt": "x", "extra_body": {"blob": b"raw"}}, "extra_body.blob"),
        ({"prompt": "x", "extra_body": {"when": object()}}, "extra_body.when"),
        ({"prompt": "x", "extra_body": {"loop": CIRCULAR}}, "extra_body.loop" + ".self" * 64),
        ({"prompt": "x", "extra_body": {"k": {(1, 2): "tuple key"}}}, "extra_body.k"),
        ({"prompt": "x", "extra_body": {5: "a non-string top-level field"}}, "extra_body"),
        ({"prompt": "x", "extra_body": {"text": LONE_SURROGATE}}, "extra_body.text"),
        (
            {"prompt": "x", "tools": [{"type": "function", "function": {"name": "f", "parameters": {"max": NAN}}}]},
            "tools[0].function.parameters.max",
        ),
        ({"prompt": "x", "tools": "not a list"}, "tools"),
        ({"prompt": "x", "tool_choice": 3}, "tool_choice"),
        (
            {"prompt": "x", "tool_choice": {"type": "function", "function": {"name": LONE_SURROGATE}}},
            "tool_choice.function.name",
        ),
        (
            {"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"x": INF}}},
            "response_format.json_schema.x",
        ),
        ({"prompt": "x", "response_format": "json"}, "response_format"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": 5}]}, "messages[0].tool_calls"),
        (
            {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": NAN}]}]},
            "messages[0].tool_calls[0].id",
        ),
        ({"messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": {"user": 1}, "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x", 3: "int key"}]}, "messages[0]"),
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": 7}]}, "messages[0].tool_call_id"),
        ({"prompt": "x", "user": 123}, "user"),
        ({"prompt": "x", "tenant": ["acme"]}, "tenant"),
        ({"prompt": "x", "api_key": 123}, "api_key"),
        ({"prompt": "x", "slo": {"batch"}}, "slo"),
        ({"prompt": "x", "region": 1}, "region"),
        ({"prompt": "x", "cache": {"lookup": False}}, "cache"),
        ({"prompt": "x", "cache": llmprod.CacheControl(ttl=NAN)}, "cache"),
        ({"prompt": "x", "cache": llmprod.CacheControl(ttl="60")}, "cache"),
        ({"prompt": "x", "cache": llmprod.CacheControl(lookup="no")}, "cache"),
        ({"prompt": "x", "tags": {"team": LONE_SURROGATE}}, "tags"),
    ],
)
def test_input_that_cannot_be_sent_is_refused_before_sending(kwargs: dict[str, Any], field: str) -> None:
    prompt = kwargs.pop("prompt", None)
    with pytest.raises(llmprod.InvalidRequestError) as info:
        build_request(prompt, **kwargs)
    assert info.value.field == field


def test_json_values_that_are_fine_pass() -> None:
    request = build_request(
        "x",
        extra_body={"logit_bias": {50256: -100}, "top_k": 5, "flags": (True, None, 1.5), "name": "café"},
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="auto",
        response_format={"type": "json_object"},
        user="",
    )
    assert request.extra_body["logit_bias"] == {50256: -100}


@pytest.mark.parametrize(
    ("kwargs", "secret"),
    [
        ({"messages": [{"role": "jo.smith@example.com", "content": "x"}]}, "jo.smith@example.com"),
        ({"messages": [{"role": "user", "content": "x", "sk-live-0123456789abcdef": 1}]}, "sk-live-0123456789abcdef"),
        ({"prompt": "x", "model": 4155550123}, "4155550123"),
        ({"prompt": "x", "temperature": "jo.smith@example.com"}, "jo.smith@example.com"),
        ({"prompt": "x", "max_tokens": "sk-live-0123456789abcdef"}, "sk-live-0123456789abcdef"),
        ({"prompt": "x", "seed": "jo.smith@example.com"}, "jo.smith@example.com"),
        ({"prompt": "x", "extra_body": {"jo.smith@example.com": NAN}}, "jo.smith@example.com"),
        ({"prompt": "x", "user": ["jo.smith@example.com"]}, "jo.smith@example.com"),
    ],
)
def test_errors_name_the_type_and_the_allowed_values_never_the_value(kwargs: dict[str, Any], secret: str) -> None:
    prompt = kwargs.pop("prompt", None)
    with pytest.raises(llmprod.InvalidRequestError) as info:
        build_request(prompt, **kwargs)
    assert secret not in str(info.value) and secret not in repr(info.value.args)


def test_an_unknown_role_names_the_roles_allowed() -> None:
    with pytest.raises(llmprod.InvalidRequestError) as info:
        build_request(None, messages=[{"role": "wizard", "content": "x"}])
    assert "'assistant'" in str(info.value) and "'user'" in str(info.value) and "wizard" not in str(info.value)
