"""Credentials: provider API keys, tokens, private keys, passwords. All reported as ``SECRET``.

Three kinds of rule, each a fact about how a credential is written:

- *prefixed tokens*: a provider's key starts with a fixed marker and has a known
  alphabet and length (``sk-ant-api03-``, ``AKIA`` + 16, ``ghp_`` + 36, ``AIza`` + 35,
  ``xoxb-``, ``sk_live_``, a JWT's ``eyJ...``). A match must also hold a digit and a
  letter after its prefix, so ``sk-learn-tutorial`` stays clean;
- *blocks*: ``-----BEGIN ... PRIVATE KEY-----`` to its ``-----END ...-----`` line;
- *assignments*: the value after a credential's name (``password=``, ``"api_key": "``,
  ``Authorization: Bearer``) and the password of a URL (``postgres://user:pw@host``).
  Values that are code (``password=get_password()``, ``token=self.token``),
  placeholders (``***``, ``<redacted>``, ``${DB_PASSWORD}``) or empty stay.

Every limit here bounds how long a match can be: the stream redactor holds back at
most that much (``_stream``).
"""

from __future__ import annotations

import re
from typing import Final

from ._backward import Before

SECRET: Final = "SECRET"

TOKEN_MAX: Final = 2048
"""The longest prefixed token (a JWT) this family matches."""
VALUE_MAX: Final = 256
"""The longest assigned value (``password="..."``)."""
BLOCK_MAX: Final = 8192
"""The longest private-key block, header to footer (an 8192-bit RSA key in PEM is about 6.5 KB)."""

_T = r"(?<![A-Za-z0-9_\-])"  # a token starts here
_END = r"(?![A-Za-z0-9_\-])"
TOKEN = re.compile(
    _T + r"(?:"
    r"sk-ant-(?:api|admin|sid)\d\d-[A-Za-z0-9_\-]{32,200}"  # Anthropic
    r"|sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,200}"  # OpenAI (and look-alike "sk-" keys)
    r"|(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{60,251}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{20,50}"  # GitLab
    r"|AIza[0-9A-Za-z_\-]{35}|GOCSPX-[A-Za-z0-9_\-]{28}|ya29\.[0-9A-Za-z_\-]{20,500}"  # Google
    r"|xox[abposr]-[0-9A-Za-z\-]{10,250}|xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{20,}"  # Slack
    r"|(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,247}|whsec_[0-9A-Za-z]{20,100}"  # Stripe
    r"|hf_[A-Za-z0-9]{30,60}|r8_[A-Za-z0-9]{30,60}|gsk_[A-Za-z0-9]{40,60}"  # Hugging Face, Replicate, Groq
    r"|eyJ[A-Za-z0-9_\-]{8,1000}\.eyJ[A-Za-z0-9_\-]{8,1000}\.[A-Za-z0-9_\-]{0,1000}"  # JWT (signed or "none")
    r")" + _END,
    re.ASCII,
)
TOKEN_ANCHORS: Final = (
    ("sk-", ""),
    ("sk_", "(?:live|test)_"),
    ("rk_", "(?:live|test)_"),
    ("glpat-", ""),
    ("GOCSPX-", ""),
    ("xox[abposr]-", ""),
    ("xapp-", ""),
    ("gh[pousr]_", ""),
    ("github_", "pat_"),
    ("whsec_", ""),
    ("hf_", ""),
    ("r8_", ""),
    ("gsk_", ""),
    ("eyJ", ""),
    ("A", "(?:KIA|SIA|BIA|CCA|3T[A-Z0-9]|Iza)"),
    ("ya2", r"9\."),
)
"""Where the scanner's prefilter notices a :data:`TOKEN`: a fixed-width regex for the start of
its prefix up to a character the prefilter looks for (``-``, ``_``, ``J``, ``A``, a digit),
and a lookahead for the rest of the prefix."""

_PREFIX = re.compile(
    r"sk-ant-(?:api|admin|sid)\d\d-|sk-(?:proj-|svcacct-|admin-|None-)?|A[A-Z0-9]{3}|gh[pousr]_|github_pat_|glpat-"
    r"|AIza|GOCSPX-|ya29\.|xox[abposr]-|xapp-|(?:sk|rk)_(?:live|test)_|whsec_|hf_|r8_|gsk_|eyJ",
    re.ASCII,
)

BLOCK_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----", re.ASCII)
_BLOCK_END = r"-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----"
BLOCK_BODY = re.compile(r"[A-Za-z0-9+/=\s:,.\-]*", re.ASCII)
"""What a block holds between its header and footer (base64, and ``Proc-Type:``-style lines)."""
BLOCK = re.compile(
    BLOCK_BEGIN.pattern
    + r"[A-Za-z0-9+/=\s:,.\-]{0,8000}?"
    + _BLOCK_END
    # A block cut off before its footer: the header and the base64 lines that follow it.
    + r"|"
    + BLOCK_BEGIN.pattern
    + r"(?:[ \t]*\r?\n[A-Za-z0-9+/=]{1,100})+",
    re.ASCII,
)

# A credential's name, just before "=" or ":" (and an optional quote). The name may have
# parts before it ("DB_PASSWORD", "x-api-key"): the keyword needs only a non-alphanumeric before it.
_KEYWORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|client[_\-]?secret|secret[_\-]?key|api[_\-]?key|apikey|access[_\-]?key"
    r"|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|token|private[_\-]?key|credentials?"
    r"|aws[_\-]?secret[_\-]?access[_\-]?key|db[_\-]?pass(?:word)?|authorization|x-api-key"
)
KEY_BEFORE = Before(r"(?i)(?:" + _KEYWORDS + r")[\"']?[ \t]*", 64, re.ASCII, boundary=r"(?![A-Za-z0-9])")
"""Whether a credential's name ends just before a position (read backwards: see ``_backward``)."""
KEY_ENDINGS: Final = ("ss", "rd", "wd", "se", "et", "ey", "en", "al", "ls", "on")
"""The last two letters of every keyword above, so that the scanner's prefilter can test them."""
VALUE = re.compile(
    r"[=:][ \t]{0,8}(?:"
    r"(?P<q>[\"'])(?P<quoted>[^\"'\s]{1," + str(VALUE_MAX) + r"})(?P=q)"
    r"|(?i:(?:bearer|basic|token)[ \t]+)(?P<auth>[A-Za-z0-9\-._~+/]{8,1000}=*)"
    r"|(?P<bare>[^\s\"'`,;&<>(){}\[\]]{1," + str(VALUE_MAX) + r"})(?![^\s\"'`,;&<>)}\]])"
    r")",
    re.ASCII,
)
_PLACEHOLDER = re.compile(
    r"(?i)\**|x+|\.+|-+|_+|#+|<[^>]*>|\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|%\(?\w+\)?s?|%s"
    r"|none|null|nil|true|false|undefined|changeme|redacted|\[redacted\]|hidden|secret|password|required"
    r"|string|str|bytes|optional\[str\]|env|os\.environ.*|getenv.*|self\..*|cls\..*|\w+\(.*|\w+\[.*",
)
_CODE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z", re.ASCII)

URL_USERINFO = re.compile(r"[^\s:/@?#\"'<>]{0,128}:(?P<password>[^\s/@?#\"'<>]{1,128})@", re.ASCII)
"""After ``scheme://``: ``user:password@``."""


def token_ok(value: str) -> bool:
    """A prefixed token whose random part holds a digit and a letter (real keys always do)."""
    prefix = _PREFIX.match(value)
    body = value[prefix.end() :] if prefix else value
    has_digit = has_alpha = False
    for ch in body:
        if "0" <= ch <= "9":
            has_digit = True
        elif ch.isalpha():
            has_alpha = True
        if has_digit and has_alpha:
            return True
    # 16 base-32 characters (AWS), or 35 of base64url (Google), may hold no digit.
    return value.startswith(("AKIA", "ASIA", "ABIA", "ACCA", "AIza"))


def value_ok(value: str, quoted: bool) -> bool:
    """Whether an assigned value is a credential rather than code, a placeholder or nothing."""
    if len(value) < 4 and not quoted:
        return False
    if _PLACEHOLDER.fullmatch(value):
        return False
    # `password=password`, `token: request.token`: an unquoted identifier is code, not a value.
    return not (not quoted and _CODE_WORD.match(value) and value.lower() == value and "_" in value)
