"""llmprod as a Ray Serve app that autoscales: deploy, call it over HTTP and through a handle, stop.

Runs on CPU over the simulated provider and exits by itself (about 20 s, most of it
starting Ray). Needs the ray extra: pip install 'llmprod[ray]'. On GPUs, swap the
config for an in-process vLLM engine and give each replica a GPU:

    ray_serve.app({"deployments": [{"provider": "vllm", "model": "..."}]},
                  ray_actor_options={"num_gpus": 1}, autoscaling_config={...})
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import urllib.request

from llmprod import ray_serve

CONFIG = {"deployments": [{"provider": "simulated", "model": "sim-small"}], "retry": {"attempts": 2}}
AUTOSCALING = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 4}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer: dict[str, object] = json.load(reply)
        return answer


async def ask_through_handle(handle: object, questions: list[str]) -> list[dict[str, object]]:
    calls = [handle.chat.remote({"messages": [{"role": "user", "content": q}], "max_tokens": 12}) for q in questions]  # type: ignore[attr-defined]
    return list(await asyncio.gather(*calls))


def main() -> None:
    try:
        import ray
        from ray import serve
    except ImportError:
        print("skipped: this example needs Ray Serve (pip install 'llmprod[ray]')")
        return
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = ray_serve.app(CONFIG, autoscaling_config=AUTOSCALING, ray_actor_options={"num_cpus": 0})
        handle = serve.run(app, name="llmprod", route_prefix="/", blocking=False)

        answer = post(f"http://127.0.0.1:{port}/v1/chat/completions", {
            "model": "any", "messages": [{"role": "user", "content": "What is Ray Serve?"}], "max_tokens": 12,
        })  # fmt: skip
        print("HTTP  :", answer["choices"][0]["message"]["content"])  # type: ignore[index]
        for a in asyncio.run(ask_through_handle(handle, ["first question", "second question", "third question"])):
            print("handle:", a["choices"][0]["message"]["content"], a["llmprod"])  # type: ignore[index]
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
    sys.exit(0)
