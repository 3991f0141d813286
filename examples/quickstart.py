"""The first ten lines: a client, a call, a stream, the numbers. No key needed."""

import llmprod

with llmprod.Client(llmprod.Simulated(model="sim-small")) as client:
    r = client.chat("Explain continuous batching in one sentence.", max_tokens=30)
    print(r.text)
    print(
        f"tokens {r.usage.prompt_tokens}+{r.usage.completion_tokens}  latency {r.latency * 1000:.0f} ms  "
        f"attempts {r.attempts}  cost ${r.cost}"
    )
    for chunk in client.stream("Write a haiku about latency", max_tokens=15):
        print(chunk.text, end="", flush=True)
    print()
