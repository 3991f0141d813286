"""One peer client, measured in a process of its own (bench/peers.py runs one per client).

    python bench/_peers/client.py NAME BASE_URL [--quick]        # the figures, as one JSON line
    python bench/_peers/client.py NAME BASE_URL --first          # import + first answer, ms
    python bench/_peers/client.py llmprod-full BASE_URL --long N # RSS over N sequential calls

Every client sends the same request (one user message, ``max_tokens=50``,
``temperature=0``, a distinct prompt per call so that no cache answers it) to the same
server, with a pool of 100 connections. Nothing here reaches the network: the peers are
pointed at the loopback server, and LiteLLM reads its cost map from its package
(``LITELLM_LOCAL_MODEL_COST_MAP``).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

MODEL = "gpt-4o-mini"
KEY = "sk-bench-not-a-key"
POOL = 100
_ids = itertools.count()
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def prompt() -> str:
    return f"What is the capital of France? (question {next(_ids)})"


def body(text: str, *, stream: bool = False) -> dict[str, Any]:
    sent: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 50,
        "temperature": 0,
    }
    if stream:
        sent |= {"stream": True, "stream_options": {"include_usage": True}}
    return sent


class Peer:
    """What every client can do; a figure a client cannot produce is left out."""

    sync = False
    cache = False

    def __init__(self, url: str) -> None:
        self.url = url

    async def start(self) -> None: ...

    async def call(self, text: str) -> str:
        raise NotImplementedError

    async def stream(self, text: str) -> tuple[float, float]:
        """(seconds to the first content chunk, seconds to the end)."""
        raise NotImplementedError

    def sync_call(self, text: str) -> str:
        raise NotImplementedError

    def sync_stream(self, text: str) -> float | None:
        """Seconds to read a whole stream from sync code (None: the client has no sync stream)."""
        return None

    async def cache_call(self, text: str) -> str:
        """The same request again: answered from the client's cache."""
        return await self.call(text)

    async def close(self) -> None: ...


def _sse_text(line: str) -> str:
    if not line.startswith("data: ") or line == "data: [DONE]":
        return ""
    choices = json.loads(line[6:])["choices"]
    return (choices[0]["delta"].get("content") or "") if choices else ""


class Httpx(Peer):
    sync = True

    async def start(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        headers = {"authorization": f"Bearer {KEY}"}
        self.client = httpx.AsyncClient(base_url=self.url, limits=limits, headers=headers, timeout=60)
        self.sync_client = httpx.Client(base_url=self.url, limits=limits, headers=headers, timeout=60)

    async def call(self, text: str) -> str:
        r = await self.client.post("/chat/completions", json=body(text))
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"])

    def sync_call(self, text: str) -> str:
        r = self.sync_client.post("/chat/completions", json=body(text))
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"])

    async def stream(self, text: str) -> tuple[float, float]:
        t0, first = time.perf_counter(), 0.0
        async with self.client.stream("POST", "/chat/completions", json=body(text, stream=True)) as r:
            async for line in r.aiter_lines():
                if _sse_text(line) and not first:
                    first = time.perf_counter() - t0
        return first, time.perf_counter() - t0

    def sync_stream(self, text: str) -> float | None:
        t0 = time.perf_counter()
        with self.sync_client.stream("POST", "/chat/completions", json=body(text, stream=True)) as r:
            for line in r.iter_lines():
                _sse_text(line)
        return time.perf_counter() - t0

    async def close(self) -> None:
        await self.client.aclose()
        self.sync_client.close()


class Aiohttp(Peer):
    async def start(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL), headers={"authorization": f"Bearer {KEY}"}
        )
        self.endpoint = f"{self.url}/chat/completions"

    async def call(self, text: str) -> str:
        async with self.session.post(self.endpoint, json=body(text)) as r:
            r.raise_for_status()
            return str((await r.json())["choices"][0]["message"]["content"])

    async def stream(self, text: str) -> tuple[float, float]:
        t0, first = time.perf_counter(), 0.0
        async with self.session.post(self.endpoint, json=body(text, stream=True)) as r:
            async for raw in r.content:
                if _sse_text(raw.decode().rstrip("\n")) and not first:
                    first = time.perf_counter() - t0
        return first, time.perf_counter() - t0

    async def close(self) -> None:
        await self.session.close()


class OpenAISDK(Peer):
    sync = True

    async def start(self) -> None:
        import openai
        from openai._constants import DEFAULT_CONNECTION_LIMITS

        limits = type(DEFAULT_CONNECTION_LIMITS)(max_connections=POOL, max_keepalive_connections=POOL)
        self.client = openai.AsyncOpenAI(
            base_url=self.url, api_key=KEY, http_client=openai.DefaultAsyncHttpxClient(limits=limits)
        )
        sync_http = openai.DefaultHttpxClient(limits=limits)
        self.sync_client = openai.OpenAI(base_url=self.url, api_key=KEY, http_client=sync_http)

    async def call(self, text: str) -> str:
        r = await self.client.chat.completions.create(**body(text))
        return r.choices[0].message.content or ""

    def sync_call(self, text: str) -> str:
        r = self.sync_client.chat.completions.create(**body(text))
        return r.choices[0].message.content or ""

    async def stream(self, text: str) -> tuple[float, float]:
        t0, first = time.perf_counter(), 0.0
        async for chunk in await self.client.chat.completions.create(**body(text, stream=True)):
            if chunk.choices and chunk.choices[0].delta.content and not first:
                first = time.perf_counter() - t0
        return first, time.perf_counter() - t0

    async def close(self) -> None:
        await self.client.close()
        self.sync_client.close()


class LiteLLM(Peer):
    sync = True

    async def start(self) -> None:
        import litellm

        litellm.suppress_debug_info = True
        self.litellm = litellm
        self.where = {"model": f"openai/{MODEL}", "api_base": self.url, "api_key": KEY}

    def _args(self, text: str, *, stream: bool = False) -> dict[str, Any]:
        return {**body(text, stream=stream), **self.where}

    async def call(self, text: str) -> str:
        r = await self.litellm.acompletion(**self._args(text))
        return str(r.choices[0].message.content)

    def sync_call(self, text: str) -> str:
        return str(self.litellm.completion(**self._args(text)).choices[0].message.content)

    async def stream(self, text: str) -> tuple[float, float]:
        t0, first = time.perf_counter(), 0.0
        async for chunk in await self.litellm.acompletion(**self._args(text, stream=True)):
            if chunk.choices and chunk.choices[0].delta.content and not first:
                first = time.perf_counter() - t0
        return first, time.perf_counter() - t0


class LiteLLMRouter(LiteLLM):
    """Two deployments, retries, a fallback, and LiteLLM's in-memory response cache."""

    cache = True

    async def start(self) -> None:
        await super().start()
        deployment = {"model": f"openai/{MODEL}", "api_base": self.url, "api_key": KEY}
        self.router = self.litellm.Router(
            model_list=[
                {"model_name": "primary", "litellm_params": deployment},
                {"model_name": "secondary", "litellm_params": deployment},
            ],
            num_retries=2,
            fallbacks=[{"primary": ["secondary"]}],
            cache_responses=True,
        )
        self.litellm.cache = self.litellm.Cache(type="local")

    def _args(self, text: str, *, stream: bool = False) -> dict[str, Any]:
        return {**body(text, stream=stream), "model": "primary"}

    async def call(self, text: str) -> str:
        return str((await self.router.acompletion(**self._args(text))).choices[0].message.content)

    def sync_call(self, text: str) -> str:
        return str(self.router.completion(**self._args(text)).choices[0].message.content)

    async def stream(self, text: str) -> tuple[float, float]:
        t0, first = time.perf_counter(), 0.0
        async for chunk in await self.router.acompletion(**self._args(text, stream=True)):
            if chunk.choices and chunk.choices[0].delta.content and not first:
                first = time.perf_counter() - t0
        return first, time.perf_counter() - t0


class Llmprod(Peer):
    """llmprod with nothing on: the backend, the deadline and the stats hook.

    Its cache-hit figure is a client with the cache alone on (the full stack's adds
    telemetry, guards and PII, which run before the cache is asked).
    """

    sync = True
    cache = True

    def options(self) -> dict[str, Any]:
        return {"retry": None, "breaker": None, "telemetry": False}

    def deployments(self) -> Any:
        import llmprod

        return llmprod.OpenAICompatible(base_url=self.url, model=MODEL, api_key=KEY, max_connections=POOL)

    async def start(self) -> None:
        import llmprod

        self.client = llmprod.AsyncClient(self.deployments(), **self.options())
        self.sync_client = llmprod.Client(self.deployments(), **self.options())
        self.cached = (
            self.client
            if "cache" in self.options()
            else llmprod.AsyncClient(self.deployments(), **self.options(), cache=llmprod.Cache())
        )

    async def cache_call(self, text: str) -> str:
        return (await self.cached.chat(text, max_tokens=50, temperature=0)).text

    async def call(self, text: str) -> str:
        return (await self.client.chat(text, max_tokens=50, temperature=0)).text

    def sync_call(self, text: str) -> str:
        return self.sync_client.chat(text, max_tokens=50, temperature=0).text

    def sync_stream(self, text: str) -> float | None:
        t0 = time.perf_counter()
        for _chunk in self.sync_client.stream(text, max_tokens=50, temperature=0):
            pass
        return time.perf_counter() - t0

    async def stream(self, text: str) -> tuple[float, float]:
        t0, first = time.perf_counter(), 0.0
        async for chunk in self.client.stream(text, max_tokens=50, temperature=0):
            if chunk.text and not first:
                first = time.perf_counter() - t0
        return first, time.perf_counter() - t0

    async def close(self) -> None:
        await self.client.aclose()
        await self.cached.aclose()
        self.sync_client.close()


class LlmprodDefaults(Llmprod):
    """``llmprod.AsyncClient(backend)``: what a user gets without a keyword (retry,
    breaker, deadline, telemetry hooks, stats and the ledger)."""

    def options(self) -> dict[str, Any]:
        return {}


class LlmprodFull(Llmprod):
    """The whole default stack on, over a fallback chain of two deployments."""

    cache = True
    max_entries = 10_000

    def options(self) -> dict[str, Any]:
        import llmprod

        return {
            "cache": llmprod.Cache(max_entries=self.max_entries),
            "pii": llmprod.PII(),
            "guards": llmprod.Guards(max_prompt_tokens=8_000),
            "budget": llmprod.Budget(hard=1_000_000.0),
        }  # retry, breaker and telemetry are on by default

    def deployments(self) -> Any:
        import llmprod

        return [
            llmprod.OpenAICompatible(base_url=self.url, model=MODEL, api_key=KEY, name=name, max_connections=POOL)
            for name in ("primary", "secondary")
        ]


PEERS: dict[str, type[Peer]] = {
    "httpx": Httpx,
    "aiohttp": Aiohttp,
    "openai": OpenAISDK,
    "litellm": LiteLLM,
    "litellm-router": LiteLLMRouter,
    "llmprod-bare": Llmprod,
    "llmprod-defaults": LlmprodDefaults,
    "llmprod-full": LlmprodFull,
}


# --- measuring ------------------------------------------------------------------------


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(samples: list[float], scale: float = 1e3) -> dict[str, float]:
    return {"p50": statistics.median(samples) * scale, "p99": _pct(samples, 0.99) * scale, "n": len(samples)}


async def sequential(call: Callable[[], Awaitable[Any]], n: int) -> dict[str, float]:
    for _ in range(max(10, n // 10)):
        await call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - t0)
    return _summary(samples)


def sequential_sync(call: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(max(10, n // 10)):
        call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return _summary(samples)


async def concurrent(call: Callable[[], Awaitable[Any]], width: int, seconds: float) -> dict[str, float]:
    await asyncio.gather(*(call() for _ in range(width)))  # warm the pool
    samples: list[float] = []

    async def worker(until: float) -> None:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker(started + seconds) for _ in range(width)))
    elapsed = time.perf_counter() - started
    return {"calls_per_s": len(samples) / elapsed, **_summary(samples)}


async def streams(peer: Peer, n: int) -> dict[str, float]:
    for _ in range(10):
        await peer.stream(prompt())
    firsts, totals = [], []
    for _ in range(n):
        first, total = await peer.stream(prompt())
        firsts.append(first)
        totals.append(total)
    return {"ttfc_p50": statistics.median(firsts) * 1e3, "total_p50": statistics.median(totals) * 1e3}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def figures(name: str, url: str, quick: bool) -> dict[str, Any]:
    peer = PEERS[name](url)
    scale = 0.4 if quick else 1.0
    slow = name.startswith("litellm")
    n_seq = int((300 if slow else 1000) * scale)
    seconds = 1.0 if quick else 2.0
    out: dict[str, Any] = {"client": name}
    await peer.start()
    if peer.sync:
        loop = asyncio.get_running_loop()
        # the sync clients run on a thread of their own, as they would in a script
        sync_call = lambda: peer.sync_call(prompt())  # noqa: E731
        out["seq_sync"] = await loop.run_in_executor(None, sequential_sync, sync_call, n_seq // 2)
    out["seq_async"] = await sequential(lambda: peer.call(prompt()), n_seq)
    out["c64"] = await concurrent(lambda: peer.call(prompt()), 64, seconds)
    out["c256"] = await concurrent(lambda: peer.call(prompt()), 256, seconds)
    out["stream"] = await streams(peer, int((100 if slow else 300) * scale))
    if peer.sync_stream("warm") is not None:
        loop = asyncio.get_running_loop()
        n_stream = int(300 * scale)
        totals = await loop.run_in_executor(None, lambda: [peer.sync_stream(prompt()) for _ in range(n_stream)])
        out["stream_sync"] = {"total_p50": statistics.median(t for t in totals if t is not None) * 1e3}
    if peer.cache:
        cached = prompt()
        out["cache_hit"] = _summary_us(await sequential(lambda: peer.cache_call(cached), int(2000 * scale)))
    await asyncio.gather(*(peer.call(prompt()) for _ in range(1000)))
    out["rss_after_1000_concurrent_mb"] = rss_mb()
    out["peak_rss_mb"] = peak_rss_mb()
    await peer.close()
    return out


def _summary_us(ms: dict[str, float]) -> dict[str, float]:
    return {"p50_us": ms["p50"] * 1e3, "p99_us": ms["p99"] * 1e3, "n": ms["n"]}


async def first_answer(name: str, url: str) -> dict[str, float]:
    peer = PEERS[name](url)
    await peer.start()
    await peer.call(prompt())
    took = time.perf_counter() - STARTED
    await peer.close()
    return {"import_and_first_answer_ms": took * 1e3}


async def long_run(url: str, calls: int) -> dict[str, Any]:
    """RSS of the full llmprod stack over ``calls`` sequential calls (cache bounded to 1,000)."""
    LlmprodFull.max_entries = 1_000
    peer = LlmprodFull(url)
    await peer.start()
    marks: list[tuple[int, float]] = []
    step = max(calls // 10, 1)
    for i in range(calls):
        await peer.call(prompt())
        if (i + 1) % step == 0:
            marks.append((i + 1, rss_mb()))
    await peer.close()
    base = marks[0][1]  # after the first tenth: caches and pools are full by then
    return {"calls": calls, "rss_mb": marks, "growth_mb": marks[-1][1] - base}


def main() -> None:
    name, url, *rest = sys.argv[1:]
    if "--first" in rest:
        result: dict[str, Any] = asyncio.run(first_answer(name, url))
    elif "--long" in rest:
        result = asyncio.run(long_run(url, int(rest[rest.index("--long") + 1])))
    else:
        result = asyncio.run(figures(name, url, quick="--quick" in rest))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
