"""PII benchmark: llmprod, Presidio and a naive 7-regex redactor, same evaluation set, same run.

    python bench/pii.py            # needs the bench extra (faker, presidio-analyzer, phonenumbers)
    python bench/pii.py --quick    # 600 texts instead of 3,000

- Accuracy on tests/pii/evalset.py (values from libphonenumber, Faker in 11 locales and
  providers' key formats, in chat, email, log, JSON, URL and code contexts; look-alikes beside
  them). Recall: values fully covered by a span of their type. Span precision: spans that are
  exactly a value of that type, over all spans of the scored types. Look-alikes redacted: those
  any span touches. Presidio runs offline: its no_op NLP engine, the pattern and checksum
  recognizers for these types and its phonenumbers-based phone recognizer.
- Speed, MB/s of UTF-8 and as a ratio to the naive redactor in the same run: the evaluation
  texts joined (dense), and Faker prose with no PII. CPU time of this process, best of five,
  llmprod and the naive redactor in turns: the machine may be shared.
- Secrets: SECRET spans on code without secrets (the standard library's own sources) and on
  generated application logs; the false positives per MB and what they matched.
- Streaming: the dense text fed in chunks of 1 to 20 characters; added time per chunk, the
  largest hold-back seen and the stated bound.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import llmprod.pii as pii
from tests.pii import evalset

Spans = list[tuple[int, int, str]]

NAIVE = [  # the patterns such redactors are usually written with, one re.sub each
    ("EMAIL", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("CREDIT_CARD", r"\b(?:\d[ -]*?){13,19}\b"),
    ("SSN", r"\b\d{3}-\d{2}-\d{4}\b"),
    ("IBAN", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
    ("IPV6", r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}){0,1}"),
    ("IPV4", r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
    ("PHONE", r"(?:\+\d{1,3}[\s.-]?)?\(?\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}"),
]
_NAIVE = [(name, re.compile(p)) for name, p in NAIVE]


def naive_redact(text: str) -> str:
    for name, pattern in _NAIVE:
        text = pattern.sub(f"[{name}]", text)
    return text


def naive_spans(text: str) -> Spans:
    """The spans the naive redactor replaces (first pattern wins, as its re.sub order does)."""
    spans: Spans = []
    for name, pattern in _NAIVE:
        for m in pattern.finditer(text):
            if not any(s < m.end() and m.start() < e for s, e, _ in spans):
                spans.append((m.start(), m.end(), name))
    return sorted(spans)


def presidio() -> Callable[[str], Spans] | None:
    try:
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError:
        return None
    import presidio_analyzer.predefined_recognizers.generic.email_recognizer as email_module

    offline = tldextract.TLDExtract(suffix_list_urls=())  # its bundled public suffix list, no download
    email_module.tldextract = SimpleNamespace(extract=offline)
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    keep = {"CreditCardRecognizer", "UsSsnRecognizer", "EmailRecognizer", "IbanRecognizer", "IpRecognizer"}
    keep.add("PhoneRecognizer")
    for rec in list(registry.recognizers):
        if rec.name not in keep:
            registry.remove_recognizer(rec.name)
    engine = AnalyzerEngine(
        nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}]),
        registry=registry,
        supported_languages=["en"],
    )
    types = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD", "US_SSN": "SSN"}
    types |= {"IBAN_CODE": "IBAN"}

    def analyze(text: str) -> Spans:
        out: Spans = []
        for r in engine.analyze(text, language="en"):
            kind = types.get(r.entity_type)
            if r.entity_type == "IP_ADDRESS":
                kind = "IPV6" if ":" in text[r.start : r.end] else "IPV4"
            if kind:
                out.append((r.start, r.end, kind))
        return out

    return analyze


def _cpu_seconds(fn: Callable[[], object]) -> float:
    # CPU time of this process: on a shared machine, time spent waiting for a core is not counted.
    t = time.process_time()
    fn()
    return time.process_time() - t


def _best(fn: Callable[[], object], runs: int = 3) -> float:
    return min(_cpu_seconds(fn) for _ in range(runs))


def _best_pair(a: Callable[[], object], b: Callable[[], object], runs: int = 5) -> tuple[float, float]:
    """The best of ``runs`` for each of two functions, run in turns so that both see the same machine."""
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(_cpu_seconds(a))
        times_b.append(_cpu_seconds(b))
    return min(times_a), min(times_b)


def _prose(n: int) -> str:
    from faker import Faker

    fake = Faker("en_US")
    Faker.seed(5)
    paragraphs = []
    size = 0
    while size < n:
        p = fake.paragraph(nb_sentences=10)
        paragraphs.append(p)
        size += len(p) + 2
    return "\n\n".join(paragraphs)


def speed(samples: list[evalset.Sample], find_presidio: Callable[[str], Spans] | None) -> dict[str, float]:
    dense = "\n".join(s.text for s in samples)
    prose = _prose(2_000_000)
    out: dict[str, float] = {}
    print("\nspeed (CPU time, best of 5 run in turns with the naive redactor; ratio = llmprod / naive)")
    for name, text in [("dense", dense), ("prose", prose)]:
        mb = len(text.encode()) / 1e6
        ours_s, naive_s = _best_pair(lambda t=text: pii.redact(t), lambda t=text: naive_redact(t))  # type: ignore[misc]
        ours, naive = mb / ours_s, mb / naive_s
        line = (
            f"  {name:<6} {mb:5.2f} MB  llmprod {ours:7.1f} MB/s  naive {naive:6.2f} MB/s  ratio {ours / naive:5.1f}x"
        )
        out |= {f"{name}_llmprod_mbps": ours, f"{name}_naive_mbps": naive, f"{name}_ratio": ours / naive}
        if find_presidio is not None:
            piece = text[:100_000]
            pmb = len(piece.encode()) / 1e6
            pres = pmb / _best(lambda t=piece: find_presidio(t), runs=1)  # type: ignore[misc]
            out[f"{name}_presidio_mbps"] = pres
            line += f"  presidio {pres:5.2f} MB/s ({pres / naive:.2f}x naive)"
        print(line)
    return out


def secrets_false_positives() -> dict[str, object]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages"}
    files = sorted(p for p in stdlib.rglob("*.py") if not skip & set(p.parts))
    code = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)
    logs = _logs(40_000)
    out: dict[str, object] = {}
    print("\nsecrets: SECRET spans on text without secrets")
    redactor = pii.Redactor(entities=["SECRET"])
    for name, text in [("code (stdlib, no tests)", code), ("logs (generated)", logs)]:
        spans = redactor.scanner.scan(text)
        mb = len(text.encode()) / 1e6
        print(f"  {name:<24} {mb:6.2f} MB  {len(spans):4d} false positives ({len(spans) / mb:.1f} per MB)")
        for s, e, _ in spans[:8]:
            line_start = text.rfind("\n", 0, s) + 1
            print(f"      {text[line_start : text.find(chr(10), e)][:110]!r}")
        out[name] = {"mb": mb, "false_positives": len(spans)}
    return out


def _logs(lines: int) -> str:
    from faker import Faker

    fake = Faker("en_US")
    Faker.seed(9)
    r = random.Random(9)
    out = []
    for _ in range(lines):
        kind = r.randrange(5)
        ts = fake.iso8601()
        if kind == 0:
            out.append(
                f'{fake.ipv4()} - - [{ts}] "GET /{fake.uri_path()}?page={r.randrange(9)}&sort=asc HTTP/1.1" '
                f'{r.choice([200, 301, 404])} {r.randrange(9999)} "-" "{fake.user_agent()}"'
            )
        elif kind == 1:
            out.append(
                f"{ts} INFO request_id={fake.uuid4()} method=POST path=/v1/chat status=200 "
                f"duration_ms={r.randrange(2000)} tokens={r.randrange(4000)} token_count={r.randrange(4000)}"
            )
        elif kind == 2:
            out.append(f"{ts} WARN auth: password reset requested for user_id={r.randrange(10**6)} (token sent)")
        elif kind == 3:
            out.append(f"{ts} DEBUG cache key=chat:{fake.sha1()} hit=true ttl=3600 secret_rotation=disabled")
        else:
            out.append(f"{ts} ERROR db: connection to postgres://{fake.hostname()}:5432/app refused; retry in 5s")
    return "\n".join(out)


def streaming(samples: list[evalset.Sample]) -> dict[str, float]:
    text = "\n".join(s.text for s in samples)
    rng = random.Random(7)
    chunks: list[str] = []
    at = 0
    while at < len(text):
        n = rng.randint(1, 20)
        chunks.append(text[at : at + n])
        at += n
    stream = pii.StreamRedactor()
    times, held, out = [], [], []
    for chunk in chunks:
        t = time.perf_counter_ns()
        out.append(stream.feed(chunk))
        times.append(time.perf_counter_ns() - t)
        held.append(stream.held)
    out.append(stream.flush())
    assert "".join(out) == pii.redact(text), "streamed output differs from whole-text redaction"
    times.sort()
    median = statistics.median(times) / 1000
    p99 = times[int(len(times) * 0.99)] / 1000
    print(f"\nstreaming: {len(chunks)} chunks of 1-20 chars; output equals whole-text redaction")
    print(f"  per chunk: median {median:.1f} us, p99 {p99:.1f} us")
    print(f"  held back: mean {statistics.mean(held):.1f} chars, max {max(held)}; bound {stream.bound} chars")
    return {"chunk_us_median": median, "chunk_us_p99": p99, "held_max": max(held), "bound": stream.bound}


def main() -> None:
    n = 600 if "--quick" in sys.argv else 3000
    samples = evalset.build(n)
    values = sum(len(s.spans) for s in samples)
    looks = sum(len(s.lookalikes) for s in samples)
    print(f"evaluation set: {len(samples)} texts, {values} values, {looks} look-alikes (tests/pii/evalset.py)")
    find_presidio = presidio()
    ours = pii.Redactor().scanner
    types = evalset.TYPES
    seven = tuple(t for t in types if t != "SECRET")
    rows: list[tuple[str, Callable[[str], Spans], tuple[str, ...]]] = [
        ("llmprod", ours.scan, types),
        ("llmprod (7 types)", ours.scan, seven),
        ("naive 7 regexes", naive_spans, seven),
    ]
    if find_presidio is not None:
        rows.append(("Presidio (offline)", find_presidio, seven))
    else:
        print("presidio-analyzer is not installed: pip install 'llmprod[bench]'")
    report: dict[str, object] = {}
    print(f"\n  {'':<20} {'recall':>7} {'span prec':>9} {'look-alikes':>11}   recall per type")
    for name, find, kinds in rows:
        s = evalset.score(samples, find, kinds)
        report[name] = s
        per = "  ".join(f"{k} {v:.3f}" for k, v in s["per_type"].items())  # type: ignore[attr-defined]
        print(f"  {name:<20} {s['recall']:7.3f} {s['precision']:9.3f} {s['lookalikes']:10.1%}   {per}")
    for name, _find, _kinds in rows[:1]:
        per = "  ".join(f"{k} {v:.3f}" for k, v in report[name]["precision_per_type"].items())  # type: ignore[index]
        print(f"  {name} span precision per type: {per}")
    report["speed"] = speed(samples, find_presidio)
    report["secrets"] = secrets_false_positives()
    report["streaming"] = streaming(samples)
    out_dir = os.environ.get("LLMPROD_BENCH_OUT")
    if out_dir:
        Path(out_dir, "pii.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
