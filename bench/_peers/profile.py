"""Profile the full llmprod stack with pyinstrument (the bench extra) on the peer workloads.

    python bench/_peers/profile.py BASE_URL seq|c64 [N] > profile.txt

BASE_URL is a running ``bench/_peers/server.py serve``; prints pyinstrument's text report.
"""

from __future__ import annotations

import asyncio
import sys

from client import LlmprodFull, concurrent, prompt, sequential  # type: ignore[import-not-found]
from pyinstrument import Profiler


async def main(url: str, workload: str, n: int) -> None:
    peer = LlmprodFull(url)
    await peer.start()
    await sequential(lambda: peer.call(prompt()), 100)  # warm: imports, pools, tokenizer
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    if workload == "seq":
        await sequential(lambda: peer.call(prompt()), n)
    else:
        await concurrent(lambda: peer.call(prompt()), 64, n / 1000)
    profiler.stop()
    await peer.close()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1000))
