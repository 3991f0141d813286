"""The detectors, one type at a time, and on the generated labelled corpus."""

from __future__ import annotations

import re

import pytest

import llmprod.pii as pii
from llmprod import ConfigError
from llmprod.pii._checks import card_ok, iban_ok, luhn_ok, ssn_ok
from llmprod.pii._detectors import joinable
from llmprod.pii._scan import Scanner
from tests.pii import corpus

FOUND = [
    ("EMAIL", "write to john.smith+news@mail.example.co.uk today", "john.smith+news@mail.example.co.uk"),
    ("EMAIL", "メールは jo@example.co.jpです", "jo@example.co.jp"),
    ("PHONE", "call +1 (415) 555-2671 now", "+1 (415) 555-2671"),
    ("PHONE", "US 415.555.2671.", "415.555.2671"),
    ("PHONE", "UK 020 7946 0958 or +44 (0)20 7946 0958", "020 7946 0958"),
    ("PHONE", "DE 030/12345678", "030/12345678"),
    ("PHONE", "FR 01 23 45 67 89", "01 23 45 67 89"),
    ("PHONE", "IN +91 98765 43210", "+91 98765 43210"),
    ("PHONE", "BR (11) 91234-5678", "(11) 91234-5678"),
    ("PHONE", "JP 090-1234-5678", "090-1234-5678"),
    ("PHONE", "AU (02) 9876 5432", "(02) 9876 5432"),
    ("PHONE", "E.164 +14155552671", "+14155552671"),
    ("PHONE", "Teléfono: 0044 20 7946 0958", "0044 20 7946 0958"),  # "Teléfono" ends in "no", no "No."
    ("PHONE", "phone: 0117 496 0886", "0117 496 0886"),  # a range kept for fiction: still a phone number
    ("PHONE", "WhatsApp +44 1632 960813", "+44 1632 960813"),  # "+", a country code, a possible length
    ("PHONE", "Phone No. 030 1234567", "030 1234567"),
    ("CREDIT_CARD", "card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "amex 3782-822463-10005", "3782-822463-10005"),
    ("CREDIT_CARD", "mc 5555555555554444", "5555555555554444"),
    ("SSN", "ssn 123-45-6789.", "123-45-6789"),
    ("SSN", "ssn 581-61-2877 2024-01-15", "581-61-2877"),  # another number after a space ends it
    ("CREDIT_CARD", "card 4111-1111-1111-1111 1970-02-01", "4111-1111-1111-1111"),
    ("IPV4", "from 192.168.1.10:8080", "192.168.1.10"),
    ("IPV4", "bare 1.2.3.4 is an address", "1.2.3.4"),
    ("IPV6", "host [2001:db8::8a2e:370:7334]:443", "2001:db8::8a2e:370:7334"),
    ("IPV6", "loopback ::1", "::1"),
    ("IBAN", "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00"),
    ("IBAN", "iban=GB29NWBK60161331926819;", "GB29NWBK60161331926819"),
    ("IBAN", "NO93 8601 1117 947 is short", "NO93 8601 1117 947"),
]

SURVIVES = [
    "bad luhn 4111 1111 1111 1112",
    "bad iban DE88 3704 0044 0532 0130 00",
    "not a country XX89 3704 0044 0532 0130 00",
    "ssn-shaped 000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
    "version 1.2.3.4, v1.2.3.4, release 10.0.19041.1, oid 1.3.6.1",
    "OID 1.3.6.1.4.1.311.21.8",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "at 2024-01-15T10:30:00Z (1700000000, 1700000000123)",
    "mac 00:1a:2b:3c:4d:5e, time 10:30:00, c++ std::vector<int> a::b dead::beef",
    "isbn 978-3-16-148410-0 and ISBN 0-306-40615-2",
    "price $1,234.56 or € 49,90; pi 3.14159",
    "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "order ORD-2024-004217 and #A-99812, zip 94105",
    "date 15.01.2024 and 01/15/2024",
    "not an email: a@b, @handle, user@localhost",
    "999.999.999.999 and 256.1.1.1",
    "call me about the EAN 4207509619238",
    "at 2024-01-15T10:30:19.058344 and at 51.582510, 36.317473",
    "request 86904968-cd57-4d0e-9b3e-2f1c0a1b2c3d and order no. 0301234567",
]


@pytest.mark.parametrize(("entity", "text", "value"), FOUND)
def test_finds(entity: str, text: str, value: str) -> None:
    spans = Scanner().scan(text)
    assert [(text[s:e], kind) for s, e, kind in spans][:1] == [(value, entity)]


@pytest.mark.parametrize("text", SURVIVES)
def test_hard_negatives_survive(text: str) -> None:
    assert pii.redact(text) == text


def test_the_nearest_words_decide() -> None:
    text = '<a href="tel:+1-246-250-1234">call</a> EAN 4207509619238'
    assert pii.redact(text) == '<a href="tel:[PHONE]">call</a> EAN 4207509619238'  # "call" is farther than "EAN"


def test_validators() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert card_ok("4111111111111111") and card_ok("378282246310005")

    def luhn_valid(body: str) -> str:
        return next(body + c for c in "0123456789" if luhn_ok(body + c))

    assert not card_ok(luhn_valid("111111111111111"))  # Luhn-valid, but no issuer starts with 1
    assert not card_ok(luhn_valid("341111111111111"))  # Amex numbers have 15 digits, not 16
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")
    assert not iban_ok("DE8937040044053201300")  # one character short
    assert ssn_ok("123", "45", "6789")
    assert not any(ssn_ok(a, g, s) for a, g, s in [("000", "45", "6789"), ("666", "45", "6789"), ("900", "45", "6789")])


def test_every_registry_country_is_checked() -> None:
    from llmprod.pii._tables import IBAN_LENGTHS

    assert len(IBAN_LENGTHS) == 89 and IBAN_LENGTHS["NO"] == 15 and IBAN_LENGTHS["RU"] == 33
    assert all(15 <= n <= 34 for n in IBAN_LENGTHS.values())


def test_mask_and_counts() -> None:
    result = pii.redact_with_counts("a@example.com, b@example.com, 4111-1111-1111-1111")
    assert result.text == "[EMAIL], [EMAIL], [CREDIT_CARD]"
    assert result.counts == {"EMAIL": 2, "CREDIT_CARD": 1}
    assert "example" not in repr(result.counts)


def test_pseudonymize_is_stable_and_restores() -> None:
    r = pii.Redactor(mode="pseudonymize")
    text = r.redact("jo@example.com wrote to ann@example.org and jo@example.com from 10.0.0.1")
    assert text == "<EMAIL_1> wrote to <EMAIL_2> and <EMAIL_1> from <IPV4_1>"
    assert r.redact("cc jo@example.com") == "cc <EMAIL_1>"  # same session, same value
    assert r.restore("to <EMAIL_2>, not <EMAIL_9>") == "to ann@example.org, not <EMAIL_9>"
    assert r.restore("<EMAIL_1> <EMAIL_2>", only={"<EMAIL_2>"}) == "<EMAIL_1> ann@example.org"
    assert "example" not in repr(r)


def test_entities_limit_the_detectors() -> None:
    assert pii.redact("jo@example.com 10.0.0.1", entities=["IPV4"]) == "jo@example.com [IPV4]"
    with pytest.raises(ConfigError, match="unknown entities"):
        pii.Redactor(entities=["PASSPORT"])
    with pytest.raises(ConfigError, match="mode"):
        pii.Redactor(mode="hide")  # type: ignore[arg-type]


def test_custom_detector() -> None:
    staff = pii.Detector("EMPLOYEE_ID", r"\bEMP-\d{6}\b", validator=lambda v: not v.endswith("000000"))
    text = "EMP-123456 and EMP-000000 mailed jo@example.com"
    assert pii.redact(text, detectors=[staff]) == "[EMPLOYEE_ID] and EMP-000000 mailed [EMAIL]"
    for bad in [dict(name="lower", pattern="x"), dict(name="EMAIL", pattern="x"), dict(name="X", pattern="(")]:
        with pytest.raises(ConfigError):
            pii.Detector(**bad)  # type: ignore[arg-type]


def test_patterns_compile_once_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("a regex was compiled during redaction")

    monkeypatch.setattr(re, "_compile", no_compile)
    text = "jo@example.com +44 20 7946 0958 DE89 3704 0044 0532 0130 00 2001:db8::1 4111 1111 1111 1111"
    r = pii.Redactor(mode="pseudonymize")
    assert r.restore(r.redact(text)) == text
    s = pii.StreamRedactor()
    assert s.feed(text) + s.flush() == pii.redact(text)


def test_corpus_precision_and_recall() -> None:
    samples = corpus.build()
    scores, false_positives = corpus.evaluate(samples)
    assert set(scores) == {"EMAIL", "PHONE", "CREDIT_CARD", "SSN", "IPV4", "IPV6", "IBAN"}
    for entity, score in scores.items():
        assert score.tp >= 50, entity
        assert score.recall >= 0.97, (entity, score)
        assert score.precision >= 0.97, (entity, score, false_positives[:3])


def test_corpus_negatives_untouched_and_spans_joinable() -> None:
    scanner = Scanner()
    negatives = 0
    for sample in corpus.build():
        spans = scanner.scan(sample.text)
        for s, e, _ in spans:
            assert joinable(sample.text, s, e), sample.text[s:e]  # the streaming cut relies on it
        for ns, ne in sample.negatives:
            negatives += 1
            assert not [sp for sp in spans if sp[0] < ne and sp[1] > ns], sample.text[ns:ne]
    assert negatives > 1000
