"""Hybrid deployment: simple prompts to a small model, complex ones to a large one."""

import llmprod

small = llmprod.Simulated("small-7b", input_price=0.1, output_price=0.1)
large = llmprod.Simulated("frontier", input_price=2.5, output_price=10.0)
client = llmprod.Client(
    [
        llmprod.Deployment(replicas=[small], name="small-7b", tier="small"),
        llmprod.Deployment(replicas=[large], name="frontier", tier="large"),
    ],
    router=llmprod.Router(threshold=0.5),
)
with client:
    for prompt in [
        "What is the capital of Japan?",
        "Prove that there are infinitely many primes, step by step.",
        "Write a Python function def lru(capacity): and explain its complexity.",
        "Say thanks in Italian.",
    ]:
        r = client.chat(prompt, max_tokens=20)
        print(f"{r.tier:<6} {r.deployment:<9} {r.route_reason}")
