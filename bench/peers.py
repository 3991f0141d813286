"""llmprod against its peers, side by side from one run, on a fast loopback server.

    python bench/peers.py                 # the table (about 4 minutes on 2 cores)
    python bench/peers.py --quick         # fewer samples (about 2 minutes)
    python bench/peers.py --long          # also RSS over 100,000 sequential llmprod calls
    python bench/peers.py --only aiohttp,llmprod-full

Prints one table (and writes ``$LLMPROD_BENCH_OUT/peers.json`` when that is set): raw
httpx and raw aiohttp (the floors), the ``openai`` SDK, LiteLLM (``acompletion``, and a
``Router`` with retries, a fallback and its in-memory cache), and llmprod bare and with
the full default stack (retries, breaker, a fallback of two deployments, cache miss,
PII, guards, budget and cost, telemetry).

The server (``bench/_peers/server.py``) runs in its own process pinned to one core and
every client in a process of its own pinned to the other (LiteLLM rewrites
``TIKTOKEN_CACHE_DIR`` when imported, and each import is timed cold). The server's own
capacity, measured with the cheapest client there is, is printed first: it must be well
above every client's rate for the figures to be the clients'.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "_peers"
ROOT = HERE.parent.parent
CLIENTS = [
    "httpx",
    "aiohttp",
    "openai",
    "litellm",
    "litellm-router",
    "llmprod-bare",
    "llmprod-defaults",
    "llmprod-full",
]
IMPORTS = {
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "openai": "openai",
    "litellm": "litellm",
    "llmprod-bare": "llmprod",
}
PACKAGES = ["httpx", "aiohttp", "openai", "litellm", "tiktoken", "tenacity", "pybreaker", "opentelemetry-api"]
SERVER_CORE, CLIENT_CORE = 1, 0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no network: LiteLLM reads the map it ships
    env.pop("OPENAI_API_KEY", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _pin(core: int, pin: bool) -> list[str]:
    return ["taskset", "-c", str(core)] if pin else []


def _run_json(cmd: list[str], *, timeout: float) -> dict[str, Any]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd[-4:])} failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def cold_import_ms(module: str, runs: int, pin: bool) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        cmd = [*_pin(CLIENT_CORE, pin), sys.executable, "-c", code]
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=True)
        times.append(float(done.stdout.strip().splitlines()[-1]) * 1e3)
    return statistics.median(times)


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def _machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0]
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(), "load_1min": load}


def _f(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if value < 100 else f"{value:,.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| client | import ms | import + 1st answer ms | async seq p50 / p99 ms | sync seq p50 / p99 ms "
        "| c64 calls/s | c64 p99 ms | c256 calls/s | c256 p99 ms | stream 1st chunk / total ms "
        "| sync stream ms | cache hit p50 µs | peak RSS MB (1,000 concurrent) |"
    )
    lines = [head, "| --- |" + " ---: |" * 12]
    for r in rows:
        seq, sync = r.get("seq_async", {}), r.get("seq_sync")
        hit = r.get("cache_hit")
        lines.append(
            f"| {r['client']} | {_f(r.get('import_ms'), 0)} | {_f(r.get('import_and_first_answer_ms'), 0)} "
            f"| {_f(seq.get('p50'))} / {_f(seq.get('p99'))} "
            f"| {(_f(sync['p50']) + ' / ' + _f(sync['p99'])) if sync else '—'} "
            f"| {_f(r['c64']['calls_per_s'], 0)} | {_f(r['c64']['p99'], 1)} "
            f"| {_f(r['c256']['calls_per_s'], 0)} | {_f(r['c256']['p99'], 1)} "
            f"| {_f(r['stream']['ttfc_p50'])} / {_f(r['stream']['total_p50'])} "
            f"| {_f(r['stream_sync']['total_p50']) if 'stream_sync' in r else '—'} "
            f"| {_f(hit['p50_us'], 1) if hit else '—'} | {_f(r['peak_rss_mb'], 0)} |"
        )
    return "\n".join(lines)


def targets(by: dict[str, dict[str, Any]], long: dict[str, Any] | None) -> list[tuple[str, bool | None, str]]:
    """(target, met, the numbers) for each of the issue's goals that this run measured."""
    out: list[tuple[str, bool | None, str]] = []
    aio, httpx_ = by.get("aiohttp"), by.get("httpx")
    defaults, full, bare = by.get("llmprod-defaults"), by.get("llmprod-full"), by.get("llmprod-bare")
    for label, row, limit in (("default stack", defaults, 1.5), ("full stack", full, 2.0)):
        if row and aio:
            ratio = row["seq_async"]["p50"] / aio["seq_async"]["p50"]
            out.append((f"{label} async p50 <= {limit}x raw aiohttp", ratio <= limit, f"{ratio:.2f}x"))
            tput = row["c64"]["calls_per_s"] / aio["c64"]["calls_per_s"]
            out.append((f"{label} calls/s at concurrency 64 >= 0.5x raw aiohttp", tput >= 0.5, f"{tput:.2f}x"))
    if bare and "cache_hit" in bare:
        hit = bare["cache_hit"]["p50_us"]
        out.append(("cache hit <= 20 µs (a client with only the cache on)", hit <= 20, f"{hit:.1f} µs"))
    if full and "cache_hit" in full:
        hit = full["cache_hit"]["p50_us"]
        out.append(("cache hit <= 50 µs (through the full stack)", hit <= 50, f"{hit:.1f} µs"))
    if defaults and httpx_ and "stream_sync" in defaults and "stream_sync" in httpx_:
        ratio = defaults["stream_sync"]["total_p50"] / httpx_["stream_sync"]["total_p50"]
        out.append(("sync 20-chunk stream <= 1.5x raw httpx", ratio <= 1.5, f"{ratio:.2f}x"))
    for peer in ("litellm", "litellm-router"):
        if full and peer in by:
            ratio = by[peer]["seq_async"]["p50"] / full["seq_async"]["p50"]
            out.append((f"{peer} >= 10x slower than llmprod full (seq p50)", ratio >= 10, f"{ratio:.1f}x"))
    if bare and "import_ms" in bare:
        out.append(("import llmprod < 100 ms", bare["import_ms"] < 100, f"{bare['import_ms']:.0f} ms"))
    if long:
        growth = long["growth_mb"]
        out.append((f"RSS flat over {long['calls']:,} calls", growth < 5, f"{growth:+.1f} MB after the first tenth"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--long", action="store_true", help="also RSS over 100,000 sequential llmprod calls")
    parser.add_argument("--long-calls", type=int, default=100_000)
    parser.add_argument("--only", default=",".join(CLIENTS), help="comma-separated clients")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client to separate cores")
    args = parser.parse_args()
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and os.path.exists("/usr/bin/taskset")
    clients = [c for c in args.only.split(",") if c]
    started = time.perf_counter()

    server = subprocess.Popen(
        [*_pin(SERVER_CORE, pin), sys.executable, str(HERE / "server.py"), "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        url = f"http://127.0.0.1:{port}/v1"
        capacity = _run_json(
            [*_pin(CLIENT_CORE, pin), sys.executable, str(HERE / "server.py"), "probe", str(port)], timeout=60
        )
        print(f"server capacity (raw sockets, 64 connections): {capacity['calls_per_s']:,.0f} calls/s", flush=True)
        rows = []
        for name in clients:
            flags = ["--quick"] if args.quick else []
            cmd = [*_pin(CLIENT_CORE, pin), sys.executable, str(HERE / "client.py"), name, url, *flags]
            try:
                row = _run_json(cmd, timeout=600)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # one broken peer must not lose the rest
                print(f"  {name}: FAILED, left out of the table: {str(exc)[-600:]}", flush=True)
                continue
            module = IMPORTS.get(name)
            if module is not None:
                row["import_ms"] = cold_import_ms(module, 1 if module == "litellm" else 5, pin)
            if name != "litellm-router":
                first = [*_pin(CLIENT_CORE, pin), sys.executable, str(HERE / "client.py"), name, url, "--first"]
                row.update(_run_json(first, timeout=120))
            rows.append(row)
            print(f"  {name}: done ({time.perf_counter() - started:.0f} s)", flush=True)
        long = None
        if args.long:
            cmd = [*_pin(CLIENT_CORE, pin), sys.executable, str(HERE / "client.py"), "llmprod-full", url]
            long = _run_json([*cmd, "--long", str(args.long_calls)], timeout=1800)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)

    by = {r["client"]: r for r in rows}
    result = {
        "machine": _machine(),
        "versions": _versions(),
        "server_capacity_calls_per_s": capacity["calls_per_s"],
        "clients": rows,
        "long": long,
        "targets": [{"target": t, "met": m, "measured": v} for t, m, v in targets(by, long)],
        "seconds": time.perf_counter() - started,
    }
    m = result["machine"]
    print(f"\n{m['nproc']} cores, {m['cpu']}, Python {m['python']}, load {m['load_1min']:.1f}; server pinned: {pin}")
    print(f"server capacity: {capacity['calls_per_s']:,.0f} calls/s\n")
    print(table(rows))
    if long:
        marks = ", ".join(f"{n:,}: {mb:.0f}" for n, mb in long["rss_mb"])
        print(f"\nllmprod full stack, RSS MB over {long['calls']:,} sequential calls: {marks}")
    print("\n| target | met | measured |\n| --- | --- | --- |")
    for t, met, value in targets(by, long):
        print(f"| {t} | {'met' if met else 'missed'} | {value} |")
    print(f"\n({result['seconds']:.0f} s)")
    out = os.environ.get("LLMPROD_BENCH_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "peers.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
