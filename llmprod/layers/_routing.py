"""Hybrid routing: simple requests to a small model, complex ones to a large one.

The default classifier scores a request in [0, 1] from cheap signals (no model call):
prompt length, conversation depth, code, math, multi-step instructions and the requested
output length. A score at or above ``threshold`` goes to the ``large`` tier. Users plug in
any callable ``request -> tier`` (or ``(tier, reason)``), and a request may name its tier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._core.errors import ConfigError
from .._core.models import ChatRequest, ChatResponse

Classifier = Callable[[ChatRequest], "str | tuple[str, str]"]

SLO_TARGETS: Mapping[str, float] = {"realtime": 0.1, "interactive": 1.0, "batch": 10.0}

_CODE = re.compile(
    r"```|\bdef \w+\(|\bclass \w+|\bfunction\b|#include|\breturn\b.*;|\bSELECT\b.+\bFROM\b|=>|\{\s*\n", re.I
)
_MATH = re.compile(
    r"\b(prove|proof|integral|derivative|theorem|equation|solve for|matrix|eigen|probability|lemma)\b"
    r"|[=<>]\s*-?\d|\d\s*[\^*/]\s*\d|∑|∫|√",
    re.I,
)
_STEPS = re.compile(
    r"\b(step[- ]by[- ]step|first[, ].*\bthen\b|finally|compare and contrast|analy[sz]e|design|architect|trade-?offs?|"
    r"plan|justify|explain why|in detail)\b|^\s*\d+[.)]\s",
    re.I | re.M,
)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the default classifier looked at, each in [0, 1]."""

    length: float
    depth: float
    code: float
    math: float
    steps: float
    output: float

    def score(self) -> float:
        weights = (0.25, 0.1, 0.2, 0.2, 0.2, 0.15)
        values = (self.length, self.depth, self.code, self.math, self.steps, self.output)
        strongest = max(self.code, self.math, self.steps)
        # One strong signal of hard work is enough on its own; otherwise blend them.
        return min(1.0, max(sum(w * v for w, v in zip(weights, values, strict=True)), 0.6 * strongest))


def signals(request: ChatRequest) -> Signals:
    text = request.prompt_text()
    words = len(text.split())
    return Signals(
        length=min(words / 600, 1.0),
        depth=min(max(len(request.messages) - 1, 0) / 10, 1.0),
        code=1.0 if _CODE.search(text) else 0.0,
        math=min(len(_MATH.findall(text)), 1),
        steps=min(len(_STEPS.findall(text)), 1),
        output=min((request.max_tokens or 256) / 2048, 1.0),
    )


def complexity(request: ChatRequest) -> tuple[float, str]:
    """The default score and a short reason naming the strongest signals."""
    s = signals(request)
    named = sorted(
        (
            ("long prompt", s.length),
            ("deep conversation", s.depth),
            ("code", s.code),
            ("math", s.math),
            ("multi-step", s.steps),
            ("long output", s.output),
        ),
        key=lambda kv: -kv[1],
    )
    top = [f"{name} {value:.2f}" for name, value in named[:2] if value > 0]
    return s.score(), ", ".join(top) or "short simple prompt"


@dataclass(frozen=True, slots=True, kw_only=True)
class Router:
    """Route requests to tiers of deployments (``Deployment(tier=...)``).

    ``classifier`` picks a tier (default: :func:`complexity` against ``threshold``, giving
    ``small`` or ``large``). ``escalate`` is a check of the small tier's answer: when it
    returns False the request is retried on ``escalate_to``. ``region`` is the caller's
    default region (a request's ``region=`` wins): deployments there are tried first, the
    others after, so a region whose breakers are open fails over. With an SLO class on the
    request, deployments whose observed latency fits its target are tried first.
    """

    classifier: Classifier | None = None
    threshold: float = 0.5
    small: str = "small"
    large: str = "large"
    escalate: Callable[[ChatResponse], bool] | None = None
    escalate_to: str | None = None
    fallback_across_tiers: bool = True
    region: str | None = None
    slo_targets: Mapping[str, float] = field(default_factory=lambda: dict(SLO_TARGETS))

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ConfigError(f"must be within [0, 1], got {self.threshold!r}", path="router.threshold")

    def choose(self, request: ChatRequest) -> tuple[str, str]:
        """The tier for this request, and why."""
        if request.metadata.tier:
            return request.metadata.tier, "requested"
        if self.classifier is not None:
            picked = self.classifier(request)
            return picked if isinstance(picked, tuple) else (picked, "custom classifier")
        score, reason = complexity(request)
        tier = self.large if score >= self.threshold else self.small
        return tier, f"score {score:.2f} ({reason})"
