"""Cohere's Command models through llmprod: a chat and a stream, with billed usage.

    CO_API_KEY=... python examples/cohere_chat.py

Without a key it runs against llmprod's loopback fault server, which speaks the v2 chat
API, and shows a rate-limited (429, Retry-After) answer being retried.
"""

from __future__ import annotations

import os

import llmprod
from llmprod.testing import Fault, FaultServer


def run(backend: llmprod.Cohere) -> None:
    with llmprod.Client(backend, retry=llmprod.Retry(attempts=3, initial=0.1)) as client:
        r = client.chat("Name three causes of tail latency.", system="Answer in one line.", max_tokens=60)
        print(f"{r.text}\n  finish={r.finish_reason} attempts={r.attempts} usage={r.usage}")
        for chunk in client.stream("Write a haiku about retries.", max_tokens=40):
            print(chunk.text, end="", flush=True)
        print()


if os.environ.get("CO_API_KEY") or os.environ.get("COHERE_API_KEY"):
    run(llmprod.Cohere(model=os.environ.get("COHERE_MODEL", "command-a-03-2025")))
else:
    print("no CO_API_KEY: using the loopback fault server\n")
    with FaultServer() as server:
        server.push(Fault.error(429, "trial key rate limit", retry_after=0.2))
        run(llmprod.Cohere(model="command-demo", api_key="not-a-real-key", base_url=server.base_url))
