"""Claude through llmprod: a chat, a stream, and usage with prompt-cache tokens.

    ANTHROPIC_API_KEY=... python examples/anthropic_chat.py

Without a key it runs against llmprod's loopback fault server, which speaks the Messages
API, and shows an overloaded (529) answer being retried.
"""

from __future__ import annotations

import os

import llmprod
from llmprod.testing import Fault, FaultServer


def run(backend: llmprod.Anthropic) -> None:
    with llmprod.Client(backend, retry=llmprod.Retry(attempts=3, initial=0.1)) as client:
        r = client.chat("Name three causes of tail latency.", system="Answer in one line.", max_tokens=60)
        print(f"{r.text}\n  finish={r.finish_reason} attempts={r.attempts} usage={r.usage}")
        for chunk in client.stream("Write a haiku about retries.", max_tokens=40):
            print(chunk.text, end="", flush=True)
        print()


if os.environ.get("ANTHROPIC_API_KEY"):
    run(llmprod.Anthropic(model=os.environ.get("ANTHROPIC_MODEL", "claude-haiku-4-5")))
else:
    print("no ANTHROPIC_API_KEY: using the loopback fault server\n")
    with FaultServer() as server:
        server.push(Fault.error(529, error_type="overloaded_error"))
        run(llmprod.Anthropic(model="claude-demo", api_key="not-a-real-key", base_url=server.base_url))
