"""The SECRET family: provider keys, tokens, private-key blocks, passwords; and what must stay."""

from __future__ import annotations

import pytest

import llmprod
import llmprod.pii as pii

# Keys in each provider's published shape, random characters (none of them is real).
FOUND = [
    (
        "OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z-Ab3dEf6h",
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z-Ab3dEf6h",
    ),
    ("key sk-ant-api03-" + "a1B2c3D4e5" * 9 + "AA here", "sk-ant-api03-" + "a1B2c3D4e5" * 9 + "AA"),
    ("aws AKIAIOSFODNN7EXAMPLE ok", "AKIAIOSFODNN7EXAMPLE"),
    ("aws AKIAQWERTYUIOPASDFGH ok", "AKIAQWERTYUIOPASDFGH"),  # no digit at all
    ("git ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 push", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    ("maps AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q ok", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    (
        "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    ),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc ok", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("DATABASE_URL=postgres://app:s3cr3t!pw@db.internal:5432/app", "s3cr3t!pw"),
    ('password = "p@ss w0rd!"'.replace(" w", "w"), "p@ssw0rd!"),
    ('{"client_secret": "Zx9-Qw8_Er7"}', "Zx9-Qw8_Er7"),
    ("DB_PASSWORD=hunter22 ok", "hunter22"),
    ("Authorization: Bearer abcdef1234567890XYZ", "abcdef1234567890XYZ"),
]

STAYS = [
    "password = get_password()",
    "password=password",
    "self.password = password",
    "password: ********",
    'password = "<redacted>"',
    "DB_PASSWORD=${DB_PASSWORD}",
    "token = self.token",
    "pip install scikit-learn; sk-learn-tutorial-for-beginners",
    "def login(self, user, password, *, initial_response_ok=True):",
    "the secret: keep it simple",
    "api_key = os.environ['OPENAI_API_KEY']",
]


@pytest.mark.parametrize(("text", "value"), FOUND)
def test_finds(text: str, value: str) -> None:
    assert pii.redact(text).replace("[SECRET]", value) == text
    assert value not in pii.redact(text)


@pytest.mark.parametrize("text", STAYS)
def test_code_and_placeholders_stay(text: str) -> None:
    assert pii.redact(text, entities=["SECRET"]) == text


def test_private_key_block_is_one_secret_and_streams_whole() -> None:
    body = "\n".join("MIIEowIBAAKCAQEA" + str(i) * 48 for i in range(10))
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    text = f"key:\n{block}\nthanks"
    assert pii.redact(text) == "key:\n[SECRET]\nthanks"
    s = pii.StreamRedactor()
    out = [s.feed(text[i : i + 5]) for i in range(0, len(text), 5)]
    out.append(s.flush())
    assert "".join(out) == "key:\n[SECRET]\nthanks"
    assert not any("MIIE" in part for part in out)


def test_on_by_default_in_the_client_config() -> None:
    config = llmprod.PII()
    assert config.entities is None  # every built-in entity, SECRET included
    assert "SECRET" in pii.Redactor(entities=config.entities).scanner.entities


def test_no_secret_in_an_exception_message() -> None:
    with pytest.raises(llmprod.ConfigError) as info:
        pii.Redactor(entities=["sk-proj-abc123SECRETVALUE"])
    assert "sk-proj" not in str(info.value)
