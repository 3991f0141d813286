"""The ``llmprod`` command line: demo, bench, prices, check-config."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    failed = asyncio.run(run_demo(args.requests, args.concurrency, seed=args.seed, speed=args.speed))
    # Failures the stack could not absorb are reported, not fatal: the demo shows them.
    return 0 if failed <= args.requests * 0.05 else 1


def _bench(args: argparse.Namespace) -> int:
    from ._loadgen import LoadSpec, format_result, run_load, write_outputs

    spec = LoadSpec(
        url=args.url,
        model=args.model,
        requests=args.requests,
        concurrency=args.concurrency,
        prompt_words=args.prompt_words,
        max_tokens=args.max_tokens,
        stream=args.stream,
        api_key=args.api_key,
    )
    result = asyncio.run(run_load(spec))
    print(format_result(spec, result))
    for note in write_outputs(result, args.json, args.png):
        print(note)
    return 0 if result.errors < result.requests else 1


def _prices(args: argparse.Namespace) -> int:
    from ..cost._prices import format_prices

    text = format_prices(args.model)
    print(text)
    return 0 if text.strip() else 1


def _check_config(args: argparse.Namespace) -> int:
    from .._client.config_file import describe_config, load_config
    from .._core.errors import ConfigError

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe_config(config))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmprod",
        description="Production-grade LLM calls: retries, breakers, fallbacks, caching, PII, cost, telemetry.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run a realistic workload on the built-in simulated provider and print a report",
        description="Run a few hundred requests (some concurrent, some failing, some repeated, some with PII) "
        "through the full stack on the simulated provider, with no key and no network, and print a report: "
        "latency percentiles, retries, fallbacks, breaker trips, cache hits, redactions and cost.",
    )
    demo.add_argument("--requests", type=int, default=400, help="how many requests (default 400)")
    demo.add_argument("--concurrency", type=int, default=32, help="requests in flight at once (default 32)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the simulated providers (default 7)")
    demo.add_argument("--speed", type=float, default=1.0, help="latency scale: 0.1 runs ten times faster")
    demo.set_defaults(run=_demo)

    bench = sub.add_parser(
        "bench",
        help="load-test any OpenAI-compatible endpoint",
        description="Send requests to an OpenAI-compatible /v1/chat/completions endpoint and print "
        "p50/p95/p99 latency, time to first token, tokens/s and error rate.",
    )
    bench.add_argument("url", help="base URL, e.g. http://localhost:8000/v1")
    bench.add_argument("--model", default="default", help="model name to request")
    bench.add_argument("--requests", type=int, default=200, help="total requests (default 200)")
    bench.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    bench.add_argument("--prompt-words", type=int, default=64, help="prompt length in words (default 64)")
    bench.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request (default 64)")
    bench.add_argument("--stream", action="store_true", help="stream the answers (measures TTFT)")
    bench.add_argument("--api-key", default=None, help="API key, if the endpoint needs one")
    bench.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    bench.add_argument("--png", type=Path, default=None, help="write a latency histogram here (needs matplotlib)")
    bench.set_defaults(run=_bench)

    prices = sub.add_parser("prices", help="show the price table (USD per million tokens)")
    prices.add_argument("model", nargs="?", default=None, help="one model (default: all)")
    prices.set_defaults(run=_prices)

    check = sub.add_parser("check-config", help="validate a config file and print the resolved stack")
    check.add_argument("file", type=Path, help="a TOML (or YAML) llmprod config file")
    check.set_defaults(run=_check_config)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
