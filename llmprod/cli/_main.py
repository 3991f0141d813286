"""The ``llmprod`` command line: demo, bench, prices, check-config."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_BROKEN_PIPE = 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    failed = asyncio.run(run_demo(args.requests, args.concurrency, seed=args.seed, speed=args.speed))
    # Failures the stack could not absorb are reported, not fatal: the demo shows them.
    return 0 if failed <= args.requests * 0.05 else 1


def _bench(args: argparse.Namespace) -> int:
    from ._loadgen import LoadSpec, format_result, run_load, stderr_progress, write_outputs

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
    result = asyncio.run(run_load(spec, progress=None if args.quiet else stderr_progress(spec.requests)))
    print(format_result(spec, result))
    for note in write_outputs(result, args.json, args.png):
        print(note)
    return 0 if result.errors < result.requests else 1


def _prices(args: argparse.Namespace) -> int:
    from ..cost._price_text import close_names, describe_price, price_lines
    from ..cost._prices import prices

    if args.model is None:
        for line in price_lines():
            print(line)
        print(f"{len(prices.models())} models from {prices.origin}")
        return 0
    price = prices.find(args.model)
    if price is not None:
        print(describe_price(price))
        return 0
    print(f"no price for model {args.model!r} in {prices.origin}", file=sys.stderr)
    close = close_names(args.model)
    if close:
        print(f"did you mean: {', '.join(close)}", file=sys.stderr)
    print(f"add one with llmprod.cost.prices.register({args.model!r}, input=..., output=...)", file=sys.stderr)
    return 1


def _check_config(args: argparse.Namespace) -> int:
    from .._client.config_file import describe_config, load_config
    from .._core.errors import ConfigError

    try:
        config = load_config(args.file, apply=False)
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
    p.add_argument("--version", action="version", version=f"llmprod {_version()}")
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
        "p50/p95/p99 latency, time to first token, tokens/s, error rate and a latency histogram. "
        "Progress (rate, ETA) goes to stderr.",
    )
    bench.add_argument("url", help="base URL, e.g. http://localhost:8000/v1")
    bench.add_argument("--model", required=True, help="model name to request (as the server knows it)")
    bench.add_argument("--requests", type=int, default=200, help="total requests (default 200)")
    bench.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    bench.add_argument("--prompt-words", type=int, default=64, help="prompt length in words (default 64)")
    bench.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request (default 64)")
    bench.add_argument("--stream", action="store_true", help="stream the answers (measures TTFT)")
    bench.add_argument("--api-key", default=None, help="API key, if the endpoint needs one")
    bench.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    bench.add_argument("--png", type=Path, default=None, help="write a latency histogram here (needs matplotlib)")
    bench.add_argument("--quiet", action="store_true", help="no progress on stderr")
    bench.set_defaults(run=_bench)

    prices = sub.add_parser(
        "prices",
        help="show the price table (USD per million tokens)",
        description="Show the price table, or one model's prices and where they come from. "
        "The built-in table is a snapshot of genai-prices; see docs/cost.md to update it.",
    )
    prices.add_argument("model", nargs="?", default=None, help="one model, by any name it answers to (default: all)")
    prices.set_defaults(run=_prices)

    check = sub.add_parser("check-config", help="validate a config file and print the resolved stack")
    check.add_argument("file", type=Path, help="a TOML (or YAML) llmprod config file")
    check.set_defaults(run=_check_config)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llmprod")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`llmprod prices | head`): stop quietly. Point stdout at
        # /dev/null so that the interpreter's own flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
