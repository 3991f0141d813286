"""One client process for tests/test_shared_state.py (run as a script, not collected).

    python tests/shared_state_worker.py SCENARIO REDIS_URL SERVER_URL CALLS

It builds an ``llmprod.AsyncClient`` whose only link to other processes is
``redis_url=REDIS_URL``, prints ``ready``, waits for a line on stdin (so that two
workers start their calls together), makes CALLS calls and prints one JSON line:
``{"outcomes": [...], "cached": [...], "costs": [...]}`` (an outcome is ``"ok"`` or
the error's class name).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import llmprod

# Priced so that "hello" with max_tokens=20 reserves $0.028 and costs $0.024
# (the figures of tests/cost/test_budget.py).
PRICED = {"input_price": 1000.0, "output_price": 1000.0, "answer_tokens": 20, "tokens_per_second": 10_000}


def build(scenario: str, redis_url: str, server_url: str) -> llmprod.AsyncClient:
    remote = llmprod.OpenAICompatible(model="shared-model", base_url=server_url, api_key="sk-test", name="remote")
    if scenario == "rate_limit":
        limit = llmprod.RateLimit(requests_per_minute=10, per="client", on_limit="reject")
        return llmprod.AsyncClient(llmprod.Simulated(), retry=None, rate_limit=limit, redis_url=redis_url)
    if scenario == "breaker":
        breaker = llmprod.Breaker(fail_max=3, reset_timeout=120)
        return llmprod.AsyncClient(remote, retry=None, breaker=breaker, redis_url=redis_url)
    if scenario == "cache":
        return llmprod.AsyncClient(remote, retry=None, cache=llmprod.Cache(ttl=120), redis_url=redis_url)
    if scenario == "budget":
        # Every call is still in flight when the last one reserves: the budget alone decides.
        slow = llmprod.backends.Latency(median=0.5, p99=0.5)
        backend = llmprod.Simulated("sim-budget", latency=slow, **PRICED)  # type: ignore[arg-type]
        return llmprod.AsyncClient(backend, retry=None, budget=llmprod.Budget(hard=0.25), redis_url=redis_url)
    raise SystemExit(f"unknown scenario {scenario!r}")


async def one(client: llmprod.AsyncClient, scenario: str) -> tuple[str, bool, float]:
    try:
        if scenario == "budget":
            r = await client.chat("hello", max_tokens=20)
        else:
            r = await client.chat("shared state across processes", max_tokens=8, temperature=0)
    except llmprod.LLMProdError as exc:
        return type(exc).__name__, False, 0.0
    return "ok", r.cached, r.cost or 0.0


async def main(scenario: str, redis_url: str, server_url: str, calls: int) -> dict[str, Any]:
    client = build(scenario, redis_url, server_url)
    try:
        print("ready", flush=True)
        if not await asyncio.to_thread(sys.stdin.readline):  # the test process went away
            raise SystemExit(1)
        if scenario == "breaker":  # in order: the failures that trip it, then fail-fast
            results = [await one(client, scenario) for _ in range(calls)]
        else:
            results = list(await asyncio.gather(*(one(client, scenario) for _ in range(calls))))
    finally:
        await client.aclose()
    return {"outcomes": [r[0] for r in results], "cached": [r[1] for r in results], "costs": [r[2] for r in results]}


if __name__ == "__main__":
    scenario, redis_url, server_url, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    print(json.dumps(asyncio.run(main(scenario, redis_url, server_url, calls))), flush=True)
