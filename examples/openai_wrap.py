"""An existing OpenAI SDK client, hardened with llmprod.wrap (against the fault server)."""

import openai

import llmprod
from llmprod.testing import Fault, FaultServer

with FaultServer() as server:
    server.push(Fault.error(500), Fault.error(429, retry_after=0.1))  # two failures, then an answer
    oai = llmprod.wrap(
        openai.OpenAI(base_url=server.url, api_key="sk-demo"),
        retry=llmprod.Retry(attempts=3, initial=0.05),
        cache=llmprod.Cache(ttl=60),
    )
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    print(type(completion).__name__, completion.choices[0].message.content)
    print("server received", len(server.requests), "requests (llmprod retried; the SDK did not)")
    for chunk in oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream please"}], stream=True
    ):
        print(chunk.choices[0].delta.content or "" if chunk.choices else "", end="")
    print()
    oai.close()
