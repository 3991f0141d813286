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
