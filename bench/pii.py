"""PII benchmark: accuracy on the labelled corpus, throughput, streaming latency per chunk.

    python bench/pii.py            # figures on stdout; JSON in $LLMPROD_BENCH_OUT/pii.json

- Per-type precision and recall on the generated corpus (tests/pii/corpus.py, fixed seed),
  and how many hard negatives survived untouched.
- Throughput in MB/s (UTF-8 bytes) with every detector on: mask and pseudonymize on the
  corpus (PII-dense: about one value or look-alike every 40 bytes), on the corpus samples
  spread through prose (one sample per ~1 KB), and on prose without PII. Baseline in the same run: one regex pass
  that splits the same text into words (``\\S+``), so the ratio survives a slower machine.
  Target: >= 20 MB/s on the corpus.
- Streaming: the corpus fed in chunks of 3 to 20 characters; the added time per chunk
  (``feed`` minus a loop that only forwards chunks), median and p99 in microseconds, and
  how many characters are held back on average.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import llmprod.pii as pii
from tests.pii import corpus

TARGET_MBPS = 20.0
_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "while", "we", "talk", "about", "plans")


def _best_of(fn: object, runs: int = 5) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def accuracy(samples: list[corpus.Sample]) -> dict[str, dict[str, float]]:
    scores, _ = corpus.evaluate(samples)
    scanner = pii.Redactor().scanner
    negatives = survived = 0
    for sample in samples:
        spans = scanner.scan(sample.text)
        for ns, ne in sample.negatives:
            negatives += 1
            survived += not any(s < ne and e > ns for s, e, _ in spans)
    print(f"accuracy on {len(samples)} generated samples (exact span and type)")
    print(f"  {'type':<12} {'tp':>5} {'fp':>4} {'fn':>4} {'precision':>10} {'recall':>8}")
    out: dict[str, dict[str, float]] = {}
    for entity in sorted(scores):
        s = scores[entity]
        print(f"  {entity:<12} {s.tp:>5} {s.fp:>4} {s.fn:>4} {s.precision:>10.4f} {s.recall:>8.4f}")
        out[entity] = {"tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision, "recall": s.recall}
    print(f"  hard negatives untouched: {survived}/{negatives}")
    out["hard_negatives"] = {"total": negatives, "untouched": survived}
    return out


def throughput(samples: list[corpus.Sample]) -> dict[str, float]:
    dense = "\n".join(s.text for s in samples) * 4
    words = _WORDS
    rng = random.Random(1)
    prose = " ".join(rng.choice(words) for _ in range(len(dense) // 5))
    # Realistic density: each corpus sample inside about 1 KB of PII-free prose.
    mixed = "\n".join(s.text + " " + " ".join(rng.choice(words) for _ in range(180)) for s in samples)
    split = re.compile(r"\S+")
    results: dict[str, float] = {}
    print("\nthroughput, every detector on (best of 5)")
    for name, text in [("corpus", dense), ("mixed", mixed), ("prose", prose)]:
        mb = len(text.encode()) / 1e6
        base = mb / _best_of(lambda t=text: sum(1 for _ in split.finditer(t)))
        mask = mb / _best_of(lambda t=text: pii.Redactor().redact(t))
        pseudo = mb / _best_of(lambda t=text: pii.Redactor(mode="pseudonymize").redact(t))
        results |= {f"{name}_mask_mbps": mask, f"{name}_pseudonymize_mbps": pseudo, f"{name}_baseline_mbps": base}
        print(
            f"  {name:<7} {mb:5.2f} MB  mask {mask:6.1f} MB/s  pseudonymize {pseudo:6.1f} MB/s  "
            f"(baseline \\S+ split {base:6.1f} MB/s; mask = {mask / base:.2f}x baseline)"
        )
    for name in ("corpus", "mixed"):
        met = results[f"{name}_mask_mbps"] >= TARGET_MBPS
        print(f"  target >= {TARGET_MBPS:.0f} MB/s on {name}: {'met' if met else 'MISSED'}")
        results[f"{name}_target_met"] = float(met)
    return results


def streaming(samples: list[corpus.Sample]) -> dict[str, float]:
    text = "\n".join(s.text for s in samples)
    rng = random.Random(7)
    chunks: list[str] = []
    at = 0
    while at < len(text):
        n = rng.randint(3, 20)
        chunks.append(text[at : at + n])
        at += n

    def forward_only() -> list[int]:
        times = []
        out = []
        for chunk in chunks:
            t = time.perf_counter_ns()
            out.append(chunk)
            times.append(time.perf_counter_ns() - t)
        return times

    def redacting() -> tuple[list[int], list[int], str]:
        stream = pii.StreamRedactor()
        times, held, out = [], [], []
        for chunk in chunks:
            t = time.perf_counter_ns()
            out.append(stream.feed(chunk))
            times.append(time.perf_counter_ns() - t)
            held.append(stream.held)
        out.append(stream.flush())
        return times, held, "".join(out)

    base = min((forward_only() for _ in range(3)), key=statistics.median)
    times, held, streamed = min((redacting() for _ in range(3)), key=lambda r: statistics.median(r[0]))
    assert streamed == pii.redact(text), "streamed output differs from whole-text redaction"
    added = sorted(max(0, t - b) for t, b in zip(times, base, strict=True))
    median = statistics.median(added) / 1000
    p99 = added[int(len(added) * 0.99)] / 1000
    print(f"\nstreaming: {len(chunks)} chunks of 3-20 chars; output equals whole-text redaction")
    print(f"  added per chunk: median {median:.1f} us, p99 {p99:.1f} us (forward-only loop as baseline)")
    print(f"  held back: mean {statistics.mean(held):.1f} chars, max {max(held)} chars")
    return {"chunk_added_us_median": median, "chunk_added_us_p99": p99, "held_mean_chars": statistics.mean(held)}


def main() -> None:
    samples = corpus.build()
    report = {"accuracy": accuracy(samples), "throughput": throughput(samples), "streaming": streaming(samples)}
    out_dir = os.environ.get("LLMPROD_BENCH_OUT")
    if out_dir:
        Path(out_dir, "pii.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
