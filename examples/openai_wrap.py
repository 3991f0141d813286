"""An existing OpenAI SDK script, unchanged but for one added line: llmprod.wrap.

`existing_script` is what a team already had: chat, a stream, a tool call and its
follow-up, embeddings, a Responses API call. Here it runs against the fault server with
30% of requests failing (5xx, 429, connections reset), and every call succeeds.
"""

import json
import random

import openai

import llmprod
from llmprod.testing import Fault, FaultServer

FAULTS = [Fault.error(500), Fault.error(502), Fault.error(503), Fault.error(429, retry_after=0.01), Fault.reset()]


def existing_script(client: openai.OpenAI) -> dict[str, object]:
    hello = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}])
    streamed = ""
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Write a haiku"}], stream=True
    ):
        if chunk.choices:
            streamed += chunk.choices[0].delta.content or ""
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip
    question = [{"role": "user", "content": "What is the weather where I am?"}]
    asked = client.chat.completions.create(
        model="gpt-4o-mini", messages=question, tools=[weather], tool_choice="required"
    )
    call = asked.choices[0].message.tool_calls[0]
    city = json.loads(call.function.arguments)["city"]
    answered = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[*question, asked.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}],
    )
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["first", "second"])
    summary = client.responses.create(model="gpt-4o-mini", input="Summarize llmprod in one line")
    return {
        "chat": hello.choices[0].message.content,
        "stream": streamed,
        "tool call": f"{call.function.name}({city})",
        "after the tool": answered.choices[0].message.content,
        "embeddings": [len(d.embedding) for d in vectors.data],
        "responses": summary.output_text,
    }


def run(seed: int = 7, fault_rate: float = 0.3) -> tuple[dict[str, object], int, int]:
    """The script against a server failing ``fault_rate`` of requests: (results, requests, faults)."""
    rng = random.Random(seed)
    plan = [rng.choice(FAULTS) if rng.random() < fault_rate else None for _ in range(1000)]
    with FaultServer() as server:
        server.script(plan)
        client = openai.OpenAI(base_url=server.url, api_key="sk-demo")
        client = llmprod.wrap(client, retry=llmprod.Retry(attempts=8, initial=0.01, maximum=0.05))  # the added line
        results = existing_script(client)
        client.close()
        sent = len(server.requests)
    return results, sent, sum(1 for item in plan[:sent] if item is not None)


if __name__ == "__main__":
    results, sent, faults = run()
    for what, value in results.items():
        print(f"{what:>15}: {value}")
    print(f"each request fails with probability 30%; this run: {faults} of {sent} requests failed")
    print("every call of the script succeeded")
