"""Prompt-injection and jailbreak scoring: weighted patterns, no I/O.

Each rule is one precompiled pattern with a weight in (0, 1]: how sure a hit alone
makes us. Hits combine as a noisy-or, ``1 - prod(1 - weight)``, so two weak signals
score higher than either alone and the score stays within [0, 1].

Patterns are phrased to need the imperative *and* its object ("ignore ... previous
instructions", not "ignore"), so prose that mentions instructions or prompts passes.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_I = re.IGNORECASE

# (name, weight, pattern). Names go into reasons, flags and events: never the text.
_RULES: tuple[tuple[str, float, str], ...] = (
    (
        "ignore-instructions",
        0.85,
        r"\b(?:ignore|disregard|forget|skip|override|bypass)\b[^.\n]{0,40}?"
        r"\b(?:previous|prior|above|earlier|preceding|former|original|all|any|your|the\s+system)\b[^.\n]{0,20}?"
        r"\b(?:instructions?|prompts?|rules|directions|guidelines|directives|context|constraints)\b",
    ),
    ("new-instructions", 0.45, r"\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions?\s*:"),
    ("dan", 0.9, r"\bDAN\b[^\n]{0,60}\bdo\s+anything\s+now\b|\bdo\s+anything\s+now\b[^\n]{0,40}\bDAN\b"),
    (
        "persona-jailbreak",
        0.75,
        r"\b(?:you\s+are\s+now|act\s+as|pretend\s+(?:to\s+be|you\s+are)|roleplay\s+as|from\s+now\s+on\s+you\s+are)\b"
        r"[^.\n]{0,60}?\b(?:jailbroken|unfiltered|uncensored|unrestricted|unlimited|evil|DAN|without\s+(?:any\s+)?"
        r"(?:restrictions|rules|limits|filters|guidelines))\b",
    ),
    (
        "developer-mode",
        0.6,
        r"\b(?:developer|god|sudo|jailbreak|admin)\s+mode\s*(?:is\s+)?(?:now\s+)?"
        r"(?:enabled|activated|unlocked|on(?=\s*(?:[.!:;,)\]]|$)))",
    ),
    (
        "no-restrictions",
        0.45,
        r"\b(?:no|without|free\s+(?:of|from))\s+(?:any\s+)?(?:ethical|moral|content|safety)\s+"
        r"(?:guidelines|restrictions|constraints|limits|filters|policies)\b",
    ),
    (
        "disable-safety",
        0.7,
        r"\b(?:disable|bypass|turn\s+off|circumvent|override)\b[^.\n]{0,20}?\b(?:safety|content|moderation)\s+"
        r"(?:filters?|policy|policies|guidelines|measures)\b",
    ),
    (
        "prompt-exfiltration",
        0.75,
        r"\b(?:reveal|show|print|repeat|output|display|leak|dump|tell\s+me|give\s+me|write\s+out)\b[^.\n]{0,30}?"
        r"\b(?:your|the)\s+(?:system|initial|hidden|original|secret|developer)\s+(?:prompt|instructions?|message)\b",
    ),
    (
        "prompt-question",
        0.5,
        r"\bwhat\s+(?:is|are|were)\s+your\s+(?:system\s+prompt|initial\s+instructions|original\s+instructions|"
        r"hidden\s+instructions)\b",
    ),
    ("repeat-above", 0.5, r"\brepeat\s+(?:everything|all|the\s+(?:text|words|lines))\s+(?:above|before|verbatim)\b"),
    (
        "fake-role-tag",
        0.6,
        r"<\|im_start\|>\s*system|<\|(?:system|endoftext|im_end)\|>|\[/?INST\]|<<SYS>>|</?system>"
        r"|^\s*#{2,}\s*(?:system|instruction)s?\s*:?\s*$",
    ),
    (
        "encoded-payload",
        0.5,
        r"\b(?:decode|decrypt|translate)\b[^.\n]{0,40}?\b(?:base64|rot13|hex|binary|morse)\b[^.\n]{0,60}?"
        r"\b(?:follow|execute|obey|do\s+what|run|carry\s+out)\b",
    ),
    ("base64-blob", 0.2, r"[A-Za-z0-9+/]{96,}={0,2}"),
    ("hidden-characters", 0.4, "[\u200b-\u200f\u2060-\u2064\ufeff\U000e0000-\U000e007f]{3,}"),
)

# The cheap part: a rule's pattern runs only if the lowercased text holds at least one
# word of each of its groups (a C substring search), so ordinary prompts skip most rules.
_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ignore-instructions": (
        ("ignore", "disregard", "forget", "skip", "override", "bypass"),
        ("instruction", "prompt", "rule", "direction", "guideline", "directive", "context", "constraint"),
    ),
    "new-instructions": (("instruction",), (":",)),
    "dan": (("do anything now",),),
    "persona-jailbreak": (
        ("you are now", "act as", "pretend", "roleplay", "from now on"),
        ("jailbr", "unfilter", "uncensor", "unrestrict", "unlimited", "evil", "dan", "without"),
    ),
    "developer-mode": ((" mode",),),
    "no-restrictions": (("ethical", "moral", "content", "safety"),),
    "disable-safety": (
        ("safety", "content", "moderation"),
        ("disable", "bypass", "turn off", "circumvent", "override"),
    ),
    "prompt-exfiltration": (
        ("prompt", "instruction", "message"),
        ("system", "initial", "hidden", "original", "secret", "developer"),
    ),
    "prompt-question": (("what",), ("system prompt", "instructions")),
    "repeat-above": (("repeat",),),
    "fake-role-tag": (("<|", "[inst]", "[/inst]", "<<sys>>", "system>", "##"),),
    "encoded-payload": (("base64", "rot13", "hex", "binary", "morse"),),
    "base64-blob": (),
    "hidden-characters": (),
}
_CASE_SENSITIVE = frozenset({"base64-blob", "hidden-characters"})

_COMPILED: tuple[tuple[str, float, re.Pattern[str], tuple[tuple[str, ...], ...]], ...] = tuple(
    (
        name,
        weight,
        re.compile(pattern, re.MULTILINE if name in _CASE_SENSITIVE else _I | re.MULTILINE),
        _NEEDS[name],
    )
    for name, weight, pattern in _RULES
)
RULES: tuple[str, ...] = tuple(name for name, _, _ in _RULES)


def _may_match(lowered: str, needs: tuple[tuple[str, ...], ...]) -> bool:
    return all(any(word in lowered for word in group) for group in needs)


class InjectionScore(NamedTuple):
    """A score in [0, 1] and the names of the rules that matched, strongest first."""

    score: float
    rules: tuple[str, ...]


def score_injection(text: str) -> InjectionScore:
    """Score ``text`` for prompt-injection and jailbreak patterns."""
    lowered = text.lower()
    ascii_only = text.isascii()
    hits = [
        (weight, name)
        for name, weight, pattern, needs in _COMPILED
        if _may_match(lowered, needs) and not (ascii_only and name == "hidden-characters") and pattern.search(text)
    ]
    if not hits:
        return InjectionScore(0.0, ())
    miss = 1.0
    for weight, _ in hits:
        miss *= 1.0 - weight
    hits.sort(reverse=True)
    return InjectionScore(round(1.0 - miss, 4), tuple(name for _, name in hits))
