"""Retries, Retry-After, fallback and the breaker, against the loopback fault server.

The server speaks OpenAI's wire format and misbehaves on demand, the way a real provider
does on a bad day; the client rides it out. Runs offline in a few seconds.
"""

import llmprod
from llmprod.testing import Fault, FaultServer

with FaultServer() as primary, FaultServer() as secondary:
    # The primary answers 503, then 429 with Retry-After, then cuts a response mid-body.
    primary.push(Fault.error(503), Fault.error(429, retry_after=0.2), Fault.cut(after=10))
    client = llmprod.Client(
        [
            llmprod.OpenAICompatible(base_url=primary.url, model="primary-model", api_key="sk-demo", name="primary"),
            llmprod.OpenAICompatible(base_url=secondary.url, model="backup-model", api_key="sk-demo", name="backup"),
        ],
        retry=llmprod.Retry(attempts=3, initial=0.05),
        breaker=llmprod.Breaker(fail_max=3, reset_timeout=5),
    )
    with client:
        r = client.chat("Summarize: the nightly job failed twice.", max_tokens=20)
        print("answered by", r.deployment, "after", r.attempts, "attempts")
        for attempt in r.attempt_log:
            error = attempt.error or ""
            print(f"  {attempt.deployment:<8} {attempt.outcome:<6} {error:<24} {attempt.latency * 1000:6.1f} ms")
        print("requests the primary received:", len(primary.requests))
        print("requests the backup received:", len(secondary.requests))
