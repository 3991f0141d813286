"""A small seeded chaos run (``bench/chaos.py`` runs 10,000 calls): chats and streams
through the whole client over real HTTP, two deployments (vLLM's wire, Anthropic's), about
30 % of attempts failing in nine ways. The invariants hold on every call: none hangs,
every error is typed, every answer is the server's clean one (a resumed stream joins
exactly), and the default breaker never opens on random faults."""

from __future__ import annotations

import pytest

from llmprod import Retry
from llmprod.testing._chaos import ChaosReport, run

CALLS = 300
RETRY = Retry(attempts=4, initial=0.01, maximum=0.05, max_retry_after=1.0)  # as bench/chaos.py runs


def invariants(report: ChaosReport) -> None:
    for mode, tally in report.modes.items():
        assert tally.requests == CALLS // 2, mode
        assert (tally.hung, tally.untyped, tally.wrong_text) == (0, 0, 0), (mode, tally)
    assert 0.2 < sum(report.faults.values()) / report.served < 0.4  # the faults were really there
    assert len(report.faults) == 9  # of every kind
    assert report.breaker_opened == 0


@pytest.mark.parametrize("seed", [7])
async def test_a_seeded_chaos_run_keeps_every_invariant(seed: int) -> None:
    report = await run(CALLS, concurrency=16, seed=seed, retry=RETRY)
    invariants(report)
    for mode, tally in report.modes.items():
        # 4 attempts on each of 2 deployments: a call fails when all eight do (0.3**8 < 0.01 %)
        assert tally.ok >= tally.requests - 1, (mode, tally)
    assert report.continuations > 0  # streams broke after their first chunk, and were resumed


async def test_without_resume_streams_broken_mid_way_are_lost() -> None:
    report = await run(CALLS, concurrency=16, seed=7, retry=RETRY, resume=False)
    invariants(report)
    stream = report.modes["stream"]
    assert report.continuations == 0
    assert stream.failed["StreamInterruptedError"] >= 5 and stream.ok == stream.requests - sum(stream.failed.values())
