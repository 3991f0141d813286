"""An evaluation set built from outside sources, not from the detectors' rules.

Values come from libraries that know them: libphonenumber's example numbers for every
region (fixed line, mobile, toll free) printed in each of its formats (E.164,
international, national, RFC 3966 ``tel:``) and with the ``00`` prefix, some with
no-break spaces; Faker in eleven locales for emails, names, cards of every brand,
IBANs, SSNs, IP addresses and its own phone numbers (kept when libphonenumber says
the number is *possible* for its region: a length check, not our validator).
Credentials follow each provider's published format with random characters.

Each value is placed in a context people write: chat lines, email headers, log lines,
JSON, URLs (``tel:``, ``mailto:``, percent-encoded), code and key=value pairs. Look-alikes
that must stay clean sit beside them: versions, dates, timestamps, order and tracking
numbers, UUIDs, hashes, message ids, package specs, section numbers, ISBNs, EANs,
prices, coordinates, invalid card numbers.

    python tests/pii/evalset.py      # a few samples, and the counts per type

Needs ``faker`` and ``phonenumbers`` (the ``bench`` extra has both).
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Spans = list[tuple[int, int, str]]
SEED = 18
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "ja_JP", "sv_SE"]
TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "SSN", "IPV4", "IPV6", "IBAN", "SECRET")


@dataclass
class Sample:
    genre: str
    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    lookalikes: list[tuple[int, int, str]] = field(default_factory=list)


class _Builder:
    """Appends literal text and labelled values, recording where each value lands."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.spans: list[tuple[int, int, str]] = []
        self.lookalikes: list[tuple[int, int, str]] = []

    def add(self, text: str, label: str | None = None, lookalike: str | None = None) -> None:
        if label:
            self.spans.append((self.size, self.size + len(text), label))
        if lookalike:
            self.lookalikes.append((self.size, self.size + len(text), lookalike))
        self.parts.append(text)
        self.size += len(text)

    def sample(self, genre: str) -> Sample:
        return Sample(genre, "".join(self.parts), self.spans, self.lookalikes)


# -- values ------------------------------------------------------------------------------------


def _phone_examples() -> list[tuple[str, str]]:
    """(text, how written) for libphonenumber's example numbers of every region."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    out = []
    kinds = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            out.append((phonenumbers.format_number(number, PhoneNumberFormat.E164), "e164"))
            out.append((intl, "international"))
            out.append(("00" + intl[1:], "00-prefix"))
            out.append((intl.replace(" ", "\u00a0"), "no-break spaces"))
            out.append((phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL), "national"))
            out.append((phonenumbers.format_number(number, PhoneNumberFormat.RFC3966), "tel-uri"))
    return out


def _faker_phone(fake: Any, locale: str) -> str | None:
    import phonenumbers

    region = locale.split("_")[1]
    for _ in range(5):
        value = fake.phone_number()
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed) and "x" not in value.lower():
            return value
    return None


def _group(value: str, r: random.Random, sizes: tuple[int, ...] = (4,)) -> str:
    size = r.choice(sizes)
    return " ".join(value[i : i + size] for i in range(0, len(value), size))


def _card(fake: Any, r: random.Random) -> str:
    brand = r.choice(["visa16", "visa13", "visa19", "mastercard", "amex", "discover", "diners", "jcb16", "maestro"])
    number = fake.credit_card_number(brand)
    while brand == "jcb16" and not "3528" <= number[:4] <= "3589":  # Faker draws from all of 35xx
        number = fake.credit_card_number(brand)
    style = r.choice(["compact", "space", "dash", "space"])
    if style == "compact":
        return str(number)
    sep = " " if style == "space" else "-"
    if len(number) == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    if len(number) == 14:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def _iban(fake: Any, r: random.Random) -> str:
    value = str(fake.iban())
    style = r.random()
    if style < 0.4:
        value = _group(value, r)
    elif style < 0.5:
        value = _group(value, r).lower()
    elif style < 0.55:
        value = value.lower()
    return value


def _ssn(fake: Any, r: random.Random) -> tuple[str, str]:
    value = str(fake["en_US"].ssn())
    style = r.random()
    if style < 0.2:
        return value.replace("-", ""), "SSN: "
    if style < 0.3:
        return value.replace("-", " "), "social security number "
    return value, ""


def _ipv6(fake: Any, r: random.Random) -> str:
    import ipaddress

    value = ipaddress.IPv6Address(fake.ipv6())
    if r.random() < 0.3:
        value = ipaddress.IPv6Address(int(value) & ~0xFFFFFFFF << 32 | r.randrange(1, 5000))
    return value.compressed if r.random() < 0.7 else value.exploded


def _rand(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


_B62 = string.ascii_letters + string.digits
_B64URL = _B62 + "-_"


def _secret(r: random.Random) -> str:
    import base64
    import json

    kind = r.randrange(12)
    if kind == 0:
        return "sk-proj-" + _rand(r, _B64URL, 120)
    if kind == 1:
        return "sk-" + _rand(r, _B62, 20) + "T3BlbkFJ" + _rand(r, _B62, 20)
    if kind == 2:
        return "sk-ant-api03-" + _rand(r, _B64URL, 93) + "AA"
    if kind == 3:
        return "AKIA" + _rand(r, string.ascii_uppercase + "234567", 16)
    if kind == 4:
        return r.choice(["ghp_", "gho_", "ghs_"]) + _rand(r, _B62, 36)
    if kind == 5:
        return "github_pat_" + _rand(r, _B62, 22) + "_" + _rand(r, _B62, 59)
    if kind == 6:
        return "AIza" + _rand(r, _B64URL, 35)
    if kind == 7:
        parts = [str(r.randrange(10**10, 10**12)), str(r.randrange(10**10, 10**12)), _rand(r, _B62, 24)]
        return r.choice(["xoxb-", "xoxp-"]) + "-".join(parts)
    if kind == 8:
        return r.choice(["sk_live_", "rk_live_", "sk_test_"]) + _rand(r, _B62, r.choice([24, 99]))

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    if kind == 9:
        head = b64({"alg": r.choice(["HS256", "RS256"]), "typ": "JWT"})
        body = b64({"sub": str(r.randrange(10**6)), "name": "x", "iat": r.randrange(10**9, 2 * 10**9)})
        return f"{head}.{body}.{_rand(r, _B64URL, 43)}"
    if kind == 10:
        lines = [_rand(r, _B62 + "+/", 64) for _ in range(r.randrange(4, 12))]
        label = r.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
        return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"
    return _rand(r, _B62 + "!#%*", r.randrange(10, 20))  # a password: placed after a name below


# -- look-alikes -------------------------------------------------------------------------------


def _lookalike(fake: Any, r: random.Random) -> tuple[str, str, str]:
    """(prefix, value, kind): text that must stay as it is."""
    kind = r.randrange(17)
    if kind == 0:
        return "version ", f"{r.randrange(1, 20)}.{r.randrange(30)}.{r.randrange(30)}.{r.randrange(99)}", "version"
    if kind == 1:
        return "on ", str(fake.date(pattern=r.choice(["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y"]))), "date"
    if kind == 2:
        return "at ", str(fake.iso8601()), "timestamp"
    if kind == 3:
        return "order ", r.choice(["ORD-", "#", "PO-", ""]) + fake.numerify("##########"), "order number"
    if kind == 4:
        return "tracking ", "1Z" + _rand(r, string.ascii_uppercase + string.digits, 16), "tracking number"
    if kind == 5:
        return "request ", str(fake.uuid4()), "uuid"
    if kind == 6:
        return "commit ", r.choice([fake.sha1(), fake.sha256(), fake.md5()]), "hash"
    if kind == 7:
        return "Message-ID: <", f"{fake.numerify('############')}.{fake.lexify('????')}@mail.example.com", "message id"
    if kind == 8:
        pkg = r.choice(["requests", "numpy", "torch", "django", "pydantic"])
        return "pip install ", f"{pkg}=={r.randrange(1, 5)}.{r.randrange(30)}.{r.randrange(10)}", "package spec"
    if kind == 9:
        return (
            "see section ",
            f"{r.randrange(1, 20)}.{r.randrange(1, 9)}.{r.randrange(1, 9)}.{r.randrange(1, 9)}",
            "section",
        )
    if kind == 10:
        return "ISBN ", str(fake.isbn13()), "isbn"
    if kind == 11:
        return "EAN ", str(fake.ean13()), "ean"
    if kind == 12:
        return "total ", f"${r.randrange(1000, 99999):,}.{r.randrange(100):02d}", "price"
    if kind == 13:
        return "at ", f"{fake.latitude()}, {fake.longitude()}", "coordinates"
    if kind == 14:
        number = str(fake.credit_card_number("visa16"))
        bad = number[:-1] + str((int(number[-1]) + 1) % 10)
        return "ref ", " ".join(bad[i : i + 4] for i in range(0, 16, 4)), "bad card"
    if kind == 15:
        return "build ", f"10.0.{r.randrange(10000, 30000)}.{r.randrange(1, 3000)}", "build number"
    return "duration ", f"{r.randrange(100, 99999)} ms, {r.randrange(1, 999)} items", "counts"


# -- contexts ----------------------------------------------------------------------------------

_PHONE_TEXT = [
    "Call me at {v}",
    "Tel: {v}",
    "Phone: {v}",
    "Mobile {v}",
    "reach me on {v} after 6",
    "My number is {v}.",
    "contact: {v}",
    "WhatsApp {v}",
    "Fax: {v}",
    "{name} \u2013 {v}",
    "{v} (office)",
    "I'm on {v} until noon",
    "Telefon: {v}",
    "Tél. : {v}",
    "Teléfono: {v}",
    "電話: {v}",
]


def _value_in_context(fake: Any, r: random.Random, b: _Builder, genre: str, kind: str, locale: str) -> None:
    name = fake[locale].name()
    if kind == "PHONE":
        value = None
        if r.random() < 0.3:
            value = _faker_phone(fake[locale], locale)
        if value is None:
            value, _ = r.choice(_PHONES)
        if value.startswith("tel:"):
            b.add('<a href="')
            b.add("tel:")
            b.add(value[4:], "PHONE")
            b.add('">call</a>')
            return
        if genre == "json":
            b.add('{"name": "')
            b.add(name)
            b.add('", "phone": "')
            b.add(value, "PHONE")
            b.add('"}')
            return
        if genre == "log":
            b.add(f"{fake.iso8601()} INFO sms.send to=")
            b.add(value, "PHONE")
            b.add(" status=queued")
            return
        template = r.choice(_PHONE_TEXT)
        head, tail = template.split("{v}")
        b.add(head.format(name=name))
        b.add(value, "PHONE")
        b.add(tail)
        return
    if kind == "EMAIL":
        value = str(fake[locale].email())
        if r.random() < 0.15:  # an internationalized address, from Faker's own words
            local = fake[r.choice(["de_DE", "fr_FR", "sv_SE", "pl_PL"])].first_name().lower().replace(" ", ".")
            domain = fake[r.choice(["de_DE", "fr_FR", "sv_SE"])].last_name().lower().replace(" ", "")
            value = f"{local}@{domain}.{r.choice(['de', 'fr', 'se'])}"
        style = r.random()
        if genre == "email":
            b.add("From: ")
            b.add(name + " <")
            b.add(value, "EMAIL")
            b.add(">\nSubject: " + fake.sentence())
        elif style < 0.15:
            b.add('<a href="mailto:')
            b.add(value, "EMAIL")
            b.add('">write</a>')
        elif style < 0.25:
            local, domain = value.split("@")
            b.add("https://example.net/unsubscribe?email=")
            b.add(f"{local}%40{domain}", "EMAIL")
            b.add("&list=news")
        elif genre == "json":
            b.add('{"email": "')
            b.add(value, "EMAIL")
            b.add('"}')
        elif genre == "log":
            b.add(f"{fake.iso8601()} WARN login failed user=")
            b.add(value, "EMAIL")
        else:
            b.add(r.choice(["write to ", "cc ", "Email: ", "ping "]))
            b.add(value, "EMAIL")
        return
    if kind == "CREDIT_CARD":
        b.add(r.choice(["card ", "Card number: ", "paid with ", '"pan": "']))
        b.add(_card(fake, r), "CREDIT_CARD")
        b.add(r.choice([" exp 09/27", "", " thanks"]))
        return
    if kind == "SSN":
        value, prefix = _ssn(fake, r)
        b.add(prefix or r.choice(["SSN ", "my ssn is ", "Social Security: ", "ssn="]))
        b.add(value, "SSN")
        return
    if kind == "IPV4":
        value = str(fake.ipv4_public() if r.random() < 0.7 else fake.ipv4_private())
        if genre == "log":
            b.add(value, "IPV4")
            b.add(f' - - [{fake.date_time():%d/%b/%Y:%H:%M:%S} +0000] "GET /{fake.uri_path()} HTTP/1.1" 200')
        else:
            b.add(r.choice(["from ", "client ip ", "host=", "ssh root@"]))
            b.add(value, "IPV4")
            b.add(r.choice(["", ":8080", " blocked"]))
        return
    if kind == "IPV6":
        value = _ipv6(fake, r)
        if r.random() < 0.3:
            b.add("http://[")
            b.add(value, "IPV6")
            b.add("]:8080/")
        else:
            b.add(r.choice(["addr ", "src=", "client "]))
            b.add(value, "IPV6")
        return
    if kind == "IBAN":
        loc = r.choice(["de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR"])
        b.add(r.choice(["IBAN ", "pay to ", "Konto: ", '"iban": "']))
        b.add(_iban(fake[loc], r), "IBAN")
        return
    # SECRET
    value = _secret(r)
    if value.startswith("-----BEGIN"):
        b.add("key:\n")
        b.add(value, "SECRET")
        b.add("\n")
        return
    if not any(value.startswith(p) for p in ("sk", "AK", "gh", "gi", "AI", "xo", "rk", "ey")):
        key = r.choice(["password", "DB_PASSWORD", "passwd", "client_secret", "api_key"])
        if genre == "json":
            b.add(f'{{"{key}": "')
            b.add(value, "SECRET")
            b.add('"}')
        elif genre == "code":
            b.add(f'{key.lower()} = "')
            b.add(value, "SECRET")
            b.add('"')
        elif r.random() < 0.3:
            b.add(f"postgres://{fake.user_name()}:")
            b.add(value.replace("#", "x").replace("%", "x"), "SECRET")
            b.add(f"@db.{fake.domain_name()}:5432/app")
        else:
            b.add(f"{key}=")
            b.add(value, "SECRET")
        return
    if genre == "code":
        b.add(r.choice(['client = OpenAI(api_key="', 'KEY = "', 'headers = {"Authorization": "Bearer ']))
        b.add(value, "SECRET")
        b.add('"' + ("}" if "headers" in b.parts[-2] else ")" if "OpenAI" in b.parts[-2] else ""))
    elif genre == "log":
        b.add(f"{fake.iso8601()} DEBUG auth ok token=")
        b.add(value, "SECRET")
    else:
        b.add(r.choice(["here is my key ", "export OPENAI_API_KEY=", "use ", "token: "]))
        b.add(value, "SECRET")


_PHONES: list[tuple[str, str]] = []
_GENRES = ["chat", "email", "log", "json", "code", "url"]
_WEIGHTS = {"PHONE": 5, "EMAIL": 3, "CREDIT_CARD": 2, "SSN": 1.5, "IPV4": 2, "IPV6": 1, "IBAN": 2, "SECRET": 3}


def build(n: int = 3000, seed: int = SEED) -> list[Sample]:
    """``n`` labelled texts, the same for the same seed."""
    from faker import Faker

    if not _PHONES:
        _PHONES.extend(_phone_examples())
    Faker.seed(seed)
    fake = Faker(LOCALES)
    r = random.Random(seed)
    kinds = list(_WEIGHTS)
    weights = list(_WEIGHTS.values())
    samples = []
    for _ in range(n):
        genre = r.choice(_GENRES)
        locale = r.choice(LOCALES)
        b = _Builder()
        b.add(fake[locale].sentence() + " " if genre == "chat" else "")
        for _ in range(r.randint(1, 3)):
            if r.random() < 0.5:
                prefix, value, kind = _lookalike(fake, r)
                b.add(prefix)
                b.add(value, lookalike=kind)
                b.add(">" if prefix.endswith("<") else "")
                b.add(r.choice([", ", "; ", "\n", " and "]))
            _value_in_context(fake, r, b, genre, r.choices(kinds, weights)[0], locale)
            b.add(r.choice([". ", "\n", " ", ", "]))
        samples.append(b.sample(genre))
    return samples


def score(samples: list[Sample], find: Callable[[str], Spans], types: tuple[str, ...]) -> dict[str, Any]:
    """Recall (values fully covered by a span of their type), span precision (spans that are
    exactly a value of their type), look-alikes touched by any span, and recall and precision
    by type, of ``find`` on ``samples`` for the entity ``types``."""
    found = Counter[str]()
    total = Counter[str]()
    exact = Counter[str]()
    predicted = Counter[str]()
    looks = touched = 0
    for sample in samples:
        spans = [s for s in find(sample.text) if s[2] in types]
        for s, e, kind in spans:
            predicted[kind] += 1
            exact[kind] += (s, e, kind) in sample.spans
        for s, e, kind in sample.spans:
            if kind not in types:
                continue
            total[kind] += 1
            found[kind] += any(ps <= s and pe >= e and pk == kind for ps, pe, pk in spans)
        for s, e, _ in sample.lookalikes:
            looks += 1
            touched += any(ps < e and s < pe for ps, pe, _ in spans)
    return {
        "recall": sum(found.values()) / max(1, sum(total.values())),
        "precision": sum(exact.values()) / max(1, sum(predicted.values())),
        "lookalikes": touched / max(1, looks),
        "per_type": {k: found[k] / total[k] for k in types if total[k]},
        "precision_per_type": {k: exact[k] / predicted[k] for k in types if predicted[k]},
    }


def main() -> None:
    samples = build()
    counts = Counter(k for s in samples for _, _, k in s.spans)
    looks = Counter(k for s in samples for _, _, k in s.lookalikes)
    for s in samples[:8]:
        print(repr(s.text))
    print(f"{len(samples)} texts, {sum(counts.values())} values {dict(counts)}")
    print(f"{sum(looks.values())} look-alikes {dict(looks)}")


if __name__ == "__main__":
    main()
