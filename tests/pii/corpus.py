"""A labelled PII corpus, generated (deterministic seed): texts, the true spans, hard negatives.

Genres: chat, support tickets, logs, JSON, code, and messages in German, French,
Spanish, Portuguese, Japanese and Hindi. Every value is generated valid for its type
(Luhn, mod 97, SSN ranges, NANP rules...). Hard negatives are look-alikes that must
survive untouched: invalid-Luhn card numbers, bad IBAN checksums, invalid SSNs,
order ids, UUIDs, timestamps, dates, version strings (``version 1.2.3.4``), OIDs,
prices, hashes, ISBNs, MAC addresses, times, tracking numbers.

Run as a script to print a few samples: ``python tests/pii/corpus.py``.
"""

from __future__ import annotations

import ipaddress
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from llmprod.pii._checks import luhn_ok
from llmprod.pii._tables import IBAN_LENGTHS

SEED = 20240615


@dataclass
class Sample:
    genre: str
    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    negatives: list[tuple[int, int]] = field(default_factory=list)


# -- value generators -------------------------------------------------------------------------

FIRST = ["john", "maria", "li", "ahmed", "sofia", "kenji", "priya", "lucas", "emma", "olga", "jean-luc", "ana"]
LAST = ["smith", "garcia", "wang", "mueller", "dubois", "tanaka", "sharma", "silva", "rossi", "kowalski", "o.neil"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "example.de", "test.example.fr", "example.com.br"]
DOMAINS += ["uni-example.edu", "example.co.jp", "example.in", "sub.dept.example.io"]


def email(r: random.Random) -> str:
    local = r.choice(
        [
            f"{r.choice(FIRST)}.{r.choice(LAST)}",
            f"{r.choice(FIRST)}{r.randint(1, 99)}",
            f"{r.choice(FIRST)}+{r.choice(['news', 'billing', 'x'])}",
            f"{r.choice(FIRST)}_{r.choice(LAST)}",
            r.choice(FIRST).upper(),
        ]
    )
    return f"{local}@{r.choice(DOMAINS)}"


def _d(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _nz(r: random.Random, low: str = "1") -> str:
    return r.choice([c for c in string.digits if c >= low])


def phone_us(r: random.Random) -> str:
    area, exch, line = _nz(r, "2") + _d(r, 2), _nz(r, "2") + _d(r, 2), _d(r, 4)
    return r.choice(
        [
            f"({area}) {exch}-{line}",
            f"{area}-{exch}-{line}",
            f"{area}.{exch}.{line}",
            f"1-{area}-{exch}-{line}",
            f"+1 {area} {exch} {line}",
            f"+1 ({area}) {exch}-{line}",
            f"+1{area}{exch}{line}",
        ]
    )


def phone_uk(r: random.Random) -> str:
    return r.choice(
        [
            f"020 {_nz(r, '3')}{_d(r, 3)} {_d(r, 4)}",
            f"0161 {_nz(r)}{_d(r, 2)} {_d(r, 4)}",
            f"07{_nz(r)}{_d(r, 2)} {_d(r, 6)}",
            f"+44 20 {_nz(r, '3')}{_d(r, 3)} {_d(r, 4)}",
            f"+44 (0)20 {_nz(r, '3')}{_d(r, 3)} {_d(r, 4)}",
            f"+44 7{_nz(r)}{_d(r, 2)} {_d(r, 6)}",
        ]
    )


def phone_de(r: random.Random) -> str:
    return r.choice(
        [
            f"030 {_nz(r, '2')}{_d(r, 7)}",
            f"030/{_nz(r, '2')}{_d(r, 6)}",
            f"0151 {_nz(r)}{_d(r, 7)}",
            f"089 {_nz(r, '2')}{_d(r, 6)}",
            f"+49 30 {_nz(r, '2')}{_d(r, 7)}",
            f"+49 (0)89 {_nz(r, '2')}{_d(r, 6)}",
            f"+49 151 {_nz(r)}{_d(r, 7)}",
        ]
    )


def phone_fr(r: random.Random) -> str:
    pairs = [_d(r, 2) for _ in range(4)]
    lead = r.choice("1234567")
    return r.choice(
        [
            f"0{lead} " + " ".join(pairs),
            f"0{lead}." + ".".join(pairs),
            f"+33 {lead} " + " ".join(pairs),
            f"+33 (0){lead} " + " ".join(pairs),
        ]
    )


def phone_in(r: random.Random) -> str:
    mobile = r.choice("6789") + _d(r, 4)
    return r.choice([f"+91 {mobile} {_d(r, 5)}", f"{mobile} {_d(r, 5)}", f"+91-{mobile}-{_d(r, 5)}"])


def phone_br(r: random.Random) -> str:
    ddd = _nz(r) + _nz(r)
    return r.choice(
        [
            f"({ddd}) 9{_d(r, 4)}-{_d(r, 4)}",
            f"({ddd}) {_nz(r, '2')}{_d(r, 3)}-{_d(r, 4)}",
            f"+55 {ddd} 9{_d(r, 4)}-{_d(r, 4)}",
        ]
    )


def phone_jp(r: random.Random) -> str:
    return r.choice(
        [
            f"03-{_d(r, 4)}-{_d(r, 4)}",
            f"06-{_d(r, 4)}-{_d(r, 4)}",
            f"090-{_d(r, 4)}-{_d(r, 4)}",
            f"0{_nz(r, '2')}{_d(r, 2)}-{_d(r, 2)}-{_d(r, 4)}",
            f"+81 3-{_d(r, 4)}-{_d(r, 4)}",
            f"+81 90 {_d(r, 4)} {_d(r, 4)}",
        ]
    )


def phone_au(r: random.Random) -> str:
    return r.choice(
        [
            f"(02) {_nz(r, '3')}{_d(r, 3)} {_d(r, 4)}",
            f"02 {_nz(r, '3')}{_d(r, 3)} {_d(r, 4)}",
            f"0412 {_d(r, 3)} {_d(r, 3)}",
            f"+61 2 {_nz(r, '3')}{_d(r, 3)} {_d(r, 4)}",
            f"+61 412 {_d(r, 3)} {_d(r, 3)}",
        ]
    )


_RAW_PHONES = {"us": phone_us, "uk": phone_uk, "de": phone_de, "fr": phone_fr}
_RAW_PHONES |= {"in": phone_in, "br": phone_br, "jp": phone_jp, "au": phone_au}
_REGIONS = {"us": "US", "uk": "GB", "de": "DE", "fr": "FR", "in": "IN", "br": "BR", "jp": "JP", "au": "AU"}


def _valid(key: str) -> Callable[[random.Random], str]:
    """The shapes above hold random digits: keep drawing until libphonenumber calls the number valid."""
    import phonenumbers

    def draw(r: random.Random) -> str:
        while True:
            value = _RAW_PHONES[key](r)
            if phonenumbers.is_valid_number(phonenumbers.parse(value, _REGIONS[key])):
                return value

    return draw


PHONES = {key: _valid(key) for key in _RAW_PHONES}


def phone(r: random.Random) -> str:
    return r.choice(list(PHONES.values()))(r)


CARD_PREFIXES = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15)]
CARD_PREFIXES += [("6011", 16), ("65", 16), ("3528", 16), ("36", 14), ("62", 16), ("4", 19)]


def _luhn_complete(body: str) -> str:
    for check in string.digits:
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


def _format_card(r: random.Random, number: str) -> str:
    n = len(number)
    style = r.choice(["compact", "space", "dash"])
    if style == "compact":
        return number
    sep = " " if style == "space" else "-"
    if n == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    if n == 14:
        return sep.join([number[:4], number[4:10], number[10:]])
    if n == 13:
        return number
    return sep.join(number[i : i + 4] for i in range(0, n, 4))


def card(r: random.Random) -> str:
    prefix, length = r.choice(CARD_PREFIXES)
    return _format_card(r, _luhn_complete(prefix + _d(r, length - len(prefix) - 1)))


def bad_card(r: random.Random) -> str:
    """A card-shaped number with a real prefix but a wrong check digit."""
    prefix, length = r.choice(CARD_PREFIXES)
    good = _luhn_complete(prefix + _d(r, length - len(prefix) - 1))
    wrong = str((int(good[-1]) + r.randint(1, 9)) % 10)
    return _format_card(r, good[:-1] + wrong)


def ssn(r: random.Random) -> str:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def bad_ssn(r: random.Random) -> str:
    return r.choice(
        [
            f"000-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
            f"666-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
            f"9{_d(r, 2)}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
            f"{r.randint(1, 665):03d}-00-{_d(r, 4)}",
        ]
    )


def ipv4(r: random.Random) -> str:
    return r.choice(
        [
            f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
        ]
    )


def ipv6(r: random.Random) -> str:
    groups = [r.randint(0, 0xFFFF) for _ in range(8)]
    style = r.choice(["full", "compressed", "doc", "link"])
    if style == "doc":
        groups[:2] = [0x2001, 0x0DB8]
        groups[2:6] = [0, 0, 0, 0]
    if style == "link":
        groups[:4] = [0xFE80, 0, 0, 0]
    address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    text = address.exploded if style == "full" else address.compressed
    if not any(c.isdigit() for c in text):  # our rule: an IPv6 address holds a decimal digit
        return "2001:db8::" + str(r.randint(1, 9))
    return text


def _iban_check(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


def iban(r: random.Random, *, valid: bool = True) -> str:
    country = r.choice(sorted(IBAN_LENGTHS))
    n = IBAN_LENGTHS[country] - 4
    if country in ("GB", "IE", "NL", "BG", "BH", "MT", "PK", "JO", "KW"):
        bban = "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _d(r, n - 4)
    else:
        bban = _d(r, n)
    check = _iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + r.randint(1, 90)) % 97 + 2:02d}"
        if check == _iban_check(country, bban):
            check = f"{(int(check) + 1) % 97 + 2:02d}"
    compact = country + check + bban
    if r.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


GENERATORS = {"EMAIL": email, "PHONE": phone, "CREDIT_CARD": card, "SSN": ssn, "IPV4": ipv4, "IPV6": ipv6, "IBAN": iban}
GENERATORS |= {f"PHONE_{k.upper()}": v for k, v in PHONES.items()}


def _uuid(r: random.Random) -> str:
    h = "".join(r.choice("0123456789abcdef") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def negative(r: random.Random) -> str:
    """One hard negative: it looks like PII and must survive redaction untouched."""
    kind = r.randrange(22)
    return [
        lambda: bad_card(r),
        lambda: iban(r, valid=False),
        lambda: bad_ssn(r),
        lambda: f"ORD-{r.randint(2019, 2025)}-{_d(r, 6)}",
        lambda: _uuid(r),
        lambda: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z",
        lambda: str(r.randint(1_600_000_000, 1_750_000_000)),
        lambda: str(r.randint(1_600_000_000_000, 1_750_000_000_000)),
        lambda: f"version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 20)}.{r.randint(0, 99)}",
        lambda: f"v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 20)}",
        lambda: f"1.3.6.1.4.1.{r.randint(100, 50000)}.{r.randint(1, 20)}.{r.randint(1, 9)}",
        lambda: f"${r.randint(1, 9)},{r.randint(100, 999)}.{r.randint(0, 99):02d}",
        lambda: f"€ {r.randint(1, 999)},{r.randint(0, 99):02d}",
        lambda: _hex(r, 32),
        lambda: _hex(r, 40),
        lambda: r.choice(["978-3-16-148410-0", "ISBN 0-306-40615-2", "978-0-306-40615-7", "ISBN-13: 9780306406157"]),
        lambda: ":".join(_hex(r, 2) for _ in range(6)),
        lambda: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
        lambda: f"1Z{r.randint(100, 999)}AA1{_d(r, 10)}",
        lambda: f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2030)}",
        lambda: f"#{_hex(r, 6)}",
        lambda: f"{r.randint(0, 99)}.{r.randint(0, 99999)} kg",
    ][kind]()


# -- templates --------------------------------------------------------------------------------

TEMPLATES: dict[str, list[str]] = {
    "chat": [
        "Hi! I'm {NAME}, you can reach me at {EMAIL} or on {PHONE}. Thanks!",
        "my card is {CREDIT_CARD} exp 04/27, can you check why it was declined? ref {NEG}",
        "Sure, my SSN is {SSN}. Also my old number was {PHONE_US}.",
        "please wire it to {IBAN} (not {NEG}) asap",
        "lol the server at {IPV4} is down again, try {IPV6} instead. build {NEG}",
        "ok so {NEG} and {NEG} are fine but {EMAIL} bounced",
    ],
    "ticket": [
        "Ticket #{N}\nCustomer: {NAME} <{EMAIL}>\nPhone: {PHONE}\nIssue: refund of {NEG} for order {NEG}.\n",
        "Subject: Payment failed\n\nCard ending {N}: {CREDIT_CARD}\nBilling IBAN: {IBAN}\nAmount: {NEG}\n",
        "Caller verified with SSN {SSN} and callback number {PHONE}. Notes: device id {NEG}, firmware {NEG}.",
    ],
    "log": [
        "{NEG} INFO auth login ok user={EMAIL} ip={IPV4} session={NEG}",
        "{NEG} WARN rate limited client={IPV6} path=/v1/chat req={NEG}",
        "{NEG} ERROR payment declined card={CREDIT_CARD} amount={NEG} trace={NEG}",
        '{IPV4} - - [10/Oct/2024:13:55:36 +0000] "GET /api/users/{N} HTTP/1.1" 200 {N} "{NEG}"',
        "[{NEG}] sms sent to {PHONE} via gateway {IPV4}:8080 msg={NEG}",
    ],
    "json": [
        '{"user": {"email": "{EMAIL}", "phone": "{PHONE}", "id": "{NEG}"}, "ip": "{IPV4}"}',
        '{"payment": {"iban": "{IBAN}", "card": "{CREDIT_CARD}", "order": "{NEG}", "total": "{NEG}"}}',
        '{"ssn":"{SSN}","created":"{NEG}","hash":"{NEG}","client_ip":"{IPV6}"}',
    ],
    "code": [
        'SUPPORT_EMAIL = "{EMAIL}"  # contact {NAME}\nVERSION = "{NEG}"\nCHECKSUM = "{NEG}"\n',
        "const server = '{IPV4}';\nconst fallback = '[{IPV6}]:443';\nconst uuid = '{NEG}';\n",
        "# test fixture\ncard = '{CREDIT_CARD}'\nbad_card = '{NEG}'\nphone = '{PHONE}'\n",
        "std::vector<int> v; // see {NEG}\nint port = 8080; // owner {EMAIL}\n",
    ],
    "de": [
        "Bitte rufen Sie mich unter {PHONE_DE} an. Meine IBAN lautet {IBAN}.",
        "Sehr geehrte Damen und Herren, meine E-Mail-Adresse ist {EMAIL}, Kundennummer {NEG}.",
    ],
    "fr": [
        "Bonjour, mon numéro est le {PHONE_FR} et mon e-mail {EMAIL}. Montant : {NEG}.",
        "Veuillez virer la somme sur {IBAN}, référence {NEG}.",
    ],
    "es": ["Hola, mi correo es {EMAIL} y mi teléfono {PHONE}. Pedido {NEG}."],
    "pt": ["Olá! Meu celular é {PHONE_BR} e meu e-mail é {EMAIL}. Protocolo {NEG}."],
    "ja": ["お問い合わせは{PHONE_JP}まで。メールは {EMAIL} です。注文番号 {NEG}。"],
    "hi": ["मेरा फ़ोन नंबर {PHONE_IN} है और ईमेल {EMAIL} है। ऑर्डर {NEG}"],
    "uk_au": ["Call our London office on {PHONE_UK} or Sydney on {PHONE_AU}. Ref {NEG}."],
}

_SLOT = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
NAMES = ["Ana Silva", "John Smith", "Priya Sharma", "Kenji Tanaka", "Emma Dubois", "Olga Kowalski"]


def render(r: random.Random, genre: str, template: str) -> Sample:
    sample = Sample(genre=genre, text="")
    parts: list[str] = []
    length = 0
    at = 0
    for m in _SLOT.finditer(template):
        literal = template[at : m.start()]
        parts.append(literal)
        length += len(literal)
        slot = m.group(1)
        if slot == "NAME":
            value = r.choice(NAMES)
        elif slot == "N":
            value = str(r.randint(1, 9999))
        elif slot == "NEG":
            value = negative(r)
            sample.negatives.append((length, length + len(value)))
        else:
            value = GENERATORS[slot](r)
            entity = "PHONE" if slot.startswith("PHONE") else slot
            sample.spans.append((length, length + len(value), entity))
        parts.append(value)
        length += len(value)
        at = m.end()
    parts.append(template[at:])
    sample.text = "".join(parts)
    return sample


def build(n: int = 1200, seed: int = SEED) -> list[Sample]:
    """``n`` labelled samples, the same for the same seed."""
    r = random.Random(seed)
    genres = sorted(TEMPLATES)
    out = []
    for i in range(n):
        genre = genres[i % len(genres)]
        out.append(render(r, genre, r.choice(TEMPLATES[genre])))
    return out


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(samples: list[Sample]) -> tuple[dict[str, Score], list[tuple[Sample, tuple[int, int, str]]]]:
    """Per-type scores (a hit is the exact span and type) and the false positives found."""
    from llmprod.pii._scan import Scanner

    scanner = Scanner()
    scores: dict[str, Score] = {}
    false_positives = []
    for sample in samples:
        truth = set(sample.spans)
        found = set(scanner.scan(sample.text))
        for span in found | truth:
            score = scores.setdefault(span[2], Score())
            if span in truth and span in found:
                score.tp += 1
            elif span in found:
                score.fp += 1
                false_positives.append((sample, span))
            else:
                score.fn += 1
    return scores, false_positives


if __name__ == "__main__":
    for s in build(24):
        print(f"--- {s.genre}: {s.spans}\n{s.text}")
