"""The stack, as data: an ordered list of layer specs, built by one loop.

:func:`layer_specs` writes the default order down once, outer to inner::

    call > last_resort > telemetry > access > guards > rate_limit > pii > cache
        > output_guard > cost > router | fallback
        > [per deployment] resume > retry > balance
        > [per replica] breaker > attempt > provider

Optional layers are left out when not configured. Two specs fan out: the router or
fallback over the deployments, the balancer over one deployment's replicas; the specs
after each are built once per deployment, and once per replica. ``call`` stays
outermost and ``attempt`` innermost; a user's own layer goes in at a named place with
:class:`Insert`. :func:`build_stack` builds the specs inside out (as starlette builds
its middleware); :func:`describe` prints them. The client, ``llmprod check-config``,
``client.describe()`` and the docs all read the same list. Each layer module is
imported only when its layer is built, so a dependency only one layer needs
(tenacity, pybreaker, cachetools) is imported only with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .backend import Backend
from .config import PII, Breaker, Budget, Cache, Guards, RateLimit, Retry, Telemetry, Timeout
from .deployment import Deployment
from .errors import ConfigError
from .events import Emit

if TYPE_CHECKING:
    from .._safety.access import AccessPolicy
    from ..layers._routing import Router
    from ..layers.last_resort import FallbackFunction
    from .call import Layer

Scope = Literal["call", "deployment", "replica"]
PINNED = ("call", "attempt")


@dataclass(frozen=True, slots=True)
class Insert:
    """A layer of your own in a client's stack, placed ``before`` or ``after`` a named one.

    ``factory`` receives the layer below and returns yours (a
    :class:`~llmprod.layers.Layer`). Placed among the per-deployment or per-replica layers
    (after ``fallback``, or after ``balance``), it is built once per deployment or
    replica. It sees answers and streams alike: both are a call it opens.

    Example::

        client = llmprod.Client(
            backend, cache=llmprod.Cache(),
            layers=[llmprod.layers.Insert("audit", Audit, before="cache")],
        )
    """

    name: str
    factory: Callable[[Layer], Layer]
    before: str | None = None
    after: str | None = None

    def __post_init__(self) -> None:
        if (self.before is None) == (self.after is None):
            raise ConfigError("give exactly one of before= or after=", path=f"layers.{self.name}")
        if not callable(self.factory):
            raise ConfigError("must be callable: it gets the layer below and returns yours", path=f"layers.{self.name}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StackConfig:
    """Everything that decides a client's stack (what ``AsyncClient`` was given)."""

    retry: Retry | None = Retry()
    breaker: Breaker | None = Breaker()
    timeout: Timeout = Timeout()
    cache: Cache | None = None
    pii: PII | None = None
    budget: Budget | None = None
    guards: Guards | None = None
    rate_limit: RateLimit | None = None
    access: AccessPolicy | None = None
    telemetry: Telemetry = field(default_factory=Telemetry)
    router: Router | None = None
    fallback: FallbackFunction | None = None
    layers: Sequence[Insert] = ()
    resume: bool = False


@dataclass(frozen=True, slots=True)
class Site:
    """What a spec is built with: the client's config and hooks, and where in the tree."""

    config: StackConfig
    emit: Emit
    deployments: Sequence[Deployment]
    deployment: Deployment | None = None
    built: dict[str, Layer] = field(default_factory=dict)  # the call's layers, by name, once built


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer of a stack, not built yet: ``build(inner, site)`` builds it (a fan-out
    spec gets the list of stacks below it instead of one)."""

    name: str
    scope: Scope
    build: Callable[[Any, Site], Layer]
    about: str = ""
    fans_out: bool = False


def layer_specs(config: StackConfig, deployments: Sequence[Deployment]) -> list[LayerSpec]:
    """The client's stack, outer to inner: the default order, what is configured, and
    the user's own layers where they asked for them."""
    c = config
    specs = [LayerSpec("call", "call", _call, f"reports each call; deadline {c.timeout.total:g}s")]
    if c.fallback is not None:
        specs.append(LayerSpec("last_resort", "call", _last_resort, "your fallback answers when the backends fail"))
    if c.telemetry.enabled:
        specs.append(LayerSpec("telemetry", "call", _telemetry, "a span per call (with an OpenTelemetry SDK)"))
    if c.access is not None:
        specs.append(LayerSpec("access", "call", _access, f"API keys: {len(c.access.keys)} accepted"))
    if c.guards is not None:
        specs.append(LayerSpec("guards", "call", _guards, _about_guards(c.guards)))
    per_key = _key_limits(c)
    if c.rate_limit is not None or per_key:
        specs.append(LayerSpec("rate_limit", "call", _rate_limit, _about_rate_limit(c.rate_limit, len(per_key))))
    if c.pii is not None:
        specs.append(LayerSpec("pii", "call", _pii, f"redacts prompts and answers ({c.pii.mode})"))
    if c.cache is not None:
        specs.append(LayerSpec("cache", "call", _cache, _about_cache(c.cache)))
    if c.guards is not None and (c.guards.output_classifiers or c.guards.blocklist):
        specs.append(LayerSpec("output_guard", "call", _output_guard, f"checks answers ({c.guards.output_action})"))
    specs.append(LayerSpec("cost", "call", _cost, _about_budget(c.budget)))
    if c.router is not None:
        specs.append(LayerSpec("router", "call", _router, "picks a tier, then falls back in order", fans_out=True))
    else:
        about = f"{len(deployments)} deployments, tried in order" if len(deployments) > 1 else "one deployment"
        specs.append(LayerSpec("fallback", "call", _fallback, about, fans_out=True))
    if c.resume:
        specs.append(LayerSpec("resume", "deployment", _resume, _about_resume(deployments)))
    if c.retry is not None and c.retry.attempts > 1:
        specs.append(LayerSpec("retry", "deployment", _retry, _about_retry(c.retry)))
    specs.append(LayerSpec("balance", "deployment", _balance, _about_balance(deployments), fans_out=True))
    if c.breaker is not None:
        specs.append(LayerSpec("breaker", "replica", _breaker, _about_breaker(c.breaker)))
    timeout = c.timeout
    specs.append(
        LayerSpec("attempt", "replica", _attempt, f"{timeout.attempt:g}s an attempt, {timeout.stream_idle:g}s idle")
    )
    return _insert(specs, c.layers)


def _insert(specs: list[LayerSpec], inserts: Sequence[Insert]) -> list[LayerSpec]:
    for insert in inserts:
        names = [s.name for s in specs]
        anchor = insert.before or insert.after
        if insert.name in names:
            raise ConfigError(f"a layer named {insert.name!r} is already in the stack", path="layers")
        if anchor not in names:
            raise ConfigError(f"no layer named {anchor!r} in this stack; it has {names}", path=f"layers.{insert.name}")
        index = names.index(anchor) + (insert.after is not None)
        if index == 0 or (insert.after == "attempt"):
            raise ConfigError("'call' stays outermost and 'attempt' innermost", path=f"layers.{insert.name}")
        neighbour = specs[index - 1]
        scope: Scope = neighbour.scope
        if neighbour.fans_out:
            scope = "deployment" if neighbour.scope == "call" else "replica"
        specs.insert(index, LayerSpec(insert.name, scope, _UserLayer(insert.factory), "your own layer"))
    return specs


class _UserLayer:
    """A user's factory as a spec's ``build``: it gets only the layer below."""

    def __init__(self, factory: Callable[[Layer], Layer]) -> None:
        self.factory = factory

    def __call__(self, inner: Layer, site: Site) -> Layer:
        return self.factory(inner)


def build_stack(specs: Sequence[LayerSpec], site: Site) -> Layer:
    """Build ``specs`` inside out: per replica, per deployment, then the call's layers."""
    route = next(i for i, s in enumerate(specs) if s.fans_out and s.scope == "call")
    balance = next(i for i, s in enumerate(specs) if s.fans_out and s.scope == "deployment")
    call_specs, deployment_specs, replica_specs = specs[:route], specs[route + 1 : balance], specs[balance + 1 :]

    def replica_stack(backend: Backend, at: Site) -> Layer:
        node: Any = backend
        for spec in reversed(replica_specs):
            node = spec.build(node, at)
        result: Layer = node
        return result

    def deployment_stack(deployment: Deployment) -> Layer:
        at = Site(site.config, site.emit, site.deployments, deployment, {})
        node = specs[balance].build([replica_stack(r, at) for r in deployment.replicas], at)
        for spec in reversed(deployment_specs):
            node = spec.build(node, at)
        return node

    node = specs[route].build([deployment_stack(d) for d in site.deployments], site)
    for spec in reversed(call_specs):
        node = site.built[spec.name] = spec.build(node, site)
    return node


def describe(specs: Sequence[LayerSpec], deployments: Sequence[Deployment]) -> str:
    """The stack as text, outer to inner, indented where it fans out; then the deployments."""
    lines = ["stack (outer to inner):"]
    indent = {"call": "  ", "deployment": "    ", "replica": "      "}
    width = max(len(s.name) for s in specs) + 2
    for spec in specs:
        pad = indent[spec.scope]
        lines.append(f"{pad}{spec.name:<{width + 6 - len(pad)}}{spec.about}")
    lines.append("deployments:")
    for number, deployment in enumerate(deployments, 1):
        replicas = ", ".join(_backend_label(r) for r in deployment.replicas)
        extra = "".join(
            f", {k} {v}" for k, v in (("tier", deployment.tier), ("region", deployment.region)) if v is not None
        )
        lines.append(f"  {number}. {deployment.label}: {replicas}{extra}")
    return "\n".join(lines)


def _backend_label(backend: Backend) -> str:
    model = getattr(backend, "model", None)
    kind = type(backend).__name__
    return f"{kind}({model!r})" if isinstance(model, str) else kind


def _key_limits(config: StackConfig) -> dict[str, RateLimit]:
    if config.access is None:
        return {}
    return {k.key_sha256: k.rate_limit for k in config.access.keys if k.rate_limit is not None}


# -- what each spec builds (layer modules are imported only when their layer is used) ----


def _call(inner: Layer, site: Site) -> Layer:
    from ..layers.call import CallLayer

    model = getattr(site.deployments[0].replicas[0], "model", None)
    return CallLayer(
        inner, site.emit, grace=site.config.timeout.grace, default_model=model if isinstance(model, str) else None
    )


def _last_resort(inner: Layer, site: Site) -> Layer:
    from ..layers.last_resort import LastResortLayer

    assert site.config.fallback is not None
    return LastResortLayer(inner, site.config.fallback)


def _telemetry(inner: Layer, site: Site) -> Layer:
    from ..layers.telemetry import TelemetryLayer

    return TelemetryLayer(inner, site.config.telemetry, site.emit, deployments=site.deployments)


def _access(inner: Layer, site: Site) -> Layer:
    from ..layers.access import AccessLayer

    assert site.config.access is not None
    return AccessLayer(inner, site.config.access, site.emit)


def _guards(inner: Layer, site: Site) -> Layer:
    from ..layers.guards import GuardsLayer

    assert site.config.guards is not None
    return GuardsLayer(inner, site.config.guards, site.emit)


def _rate_limit(inner: Layer, site: Site) -> Layer:
    from ..layers.ratelimit import RateLimitLayer

    return RateLimitLayer(inner, site.config.rate_limit, site.emit, per_key=_key_limits(site.config))


def _pii(inner: Layer, site: Site) -> Layer:
    from ..layers.pii import PIILayer

    assert site.config.pii is not None
    return PIILayer(inner, site.config.pii, site.emit)


def _cache(inner: Layer, site: Site) -> Layer:
    from ..layers.cache import CacheLayer

    assert site.config.cache is not None
    return CacheLayer(inner, site.config.cache, site.emit)


def _output_guard(inner: Layer, site: Site) -> Layer:
    from ..layers.output_guard import OutputGuardLayer

    assert site.config.guards is not None
    return OutputGuardLayer(inner, site.config.guards, site.emit)


def _cost(inner: Layer, site: Site) -> Layer:
    from ..layers.cost import CostLayer

    return CostLayer(inner, site.config.budget, site.emit, deployments=site.deployments)


def _router(inners: list[Layer], site: Site) -> Layer:
    from ..layers.router import RouterLayer

    assert site.config.router is not None
    return RouterLayer(list(zip(site.deployments, inners, strict=True)), site.config.router, site.emit)


def _fallback(inners: list[Layer], site: Site) -> Layer:
    if len(inners) == 1:  # one deployment is no fallback: its own typed error reaches the caller
        return inners[0]
    from ..layers.fallback import FallbackLayer

    return FallbackLayer(inners, site.emit)


def _resume(inner: Layer, site: Site) -> Layer:
    from ..layers.resume import ResumeLayer, can_continue

    assert site.deployment is not None
    replicas = site.deployment.replicas
    if not all(can_continue(r) for r in replicas):
        return inner  # a broken stream is interrupted, as without resume
    return ResumeLayer(inner, replicas[0], deployment=site.deployment.label, emit=site.emit)  # type: ignore[arg-type]


def _retry(inner: Layer, site: Site) -> Layer:
    from ..layers.retry import RetryLayer

    assert site.config.retry is not None and site.deployment is not None
    return RetryLayer(inner, site.config.retry, site.emit, deployment=site.deployment.label)


def _balance(inners: list[Layer], site: Site) -> Layer:
    deployment = site.deployment
    assert deployment is not None
    if len(inners) == 1 and deployment.hedge is None:
        return inners[0]
    from ..layers.balance import BalanceLayer

    return BalanceLayer(inners, deployment, site.emit)


def _breaker(inner: Layer, site: Site) -> Layer:
    from ..layers.breaker import BreakerLayer

    assert site.config.breaker is not None and site.deployment is not None
    return BreakerLayer(inner, site.config.breaker, site.emit, deployment=site.deployment.label)


def _attempt(backend: Backend, site: Site) -> Layer:
    from ..layers.attempt import AttemptLayer

    assert site.deployment is not None
    return AttemptLayer(backend, site.config.timeout, site.emit, deployment=site.deployment.label)


# -- one line per layer, from its config ---------------------------------------------


def _about_guards(g: Guards) -> str:
    limits = [f"{n} {v}" for n, v in (("max_prompt_tokens", g.max_prompt_tokens), ("max_messages", g.max_messages))]
    return f"input limits ({', '.join(limits)}); injection filter: {g.injection}"


def _about_rate_limit(r: RateLimit | None, keys: int) -> str:
    parts = []
    if r is not None:
        rpm = f"{r.requests_per_minute:g} requests/min" if r.requests_per_minute else None
        tpm = f"{r.tokens_per_minute:g} tokens/min" if r.tokens_per_minute else None
        parts.append(f"{', '.join(p for p in (rpm, tpm) if p)} per {r.per}, {r.on_limit}")
    if keys:
        parts.append(f"{keys} API keys with their own limits")
    return "; ".join(parts)


def _about_cache(c: Cache) -> str:
    where = "Redis" if c.redis_url else f"memory ({c.max_entries} entries)"
    return f"exact match, ttl {c.ttl:g}s, in {where}; single flight; stale-if-error {c.stale_ttl:g}s"


def _about_budget(b: Budget | None) -> str:
    if b is None or (b.hard is None and b.soft is None):
        return "prices every answer; no budget"
    limits = ", ".join(f"{k} ${v:g}" for k, v in (("hard", b.hard), ("soft", b.soft)) if v is not None)
    return f"prices every answer; budget {limits} per {b.per} per {b.window}"


def _about_resume(deployments: Sequence[Deployment]) -> str:
    from ..layers.resume import can_continue

    able = [d.label for d in deployments if all(can_continue(r) for r in d.replicas)]
    unable = [d.label for d in deployments if d.label not in able]
    parts = [f"continues broken streams on {', '.join(able)}"] if able else []
    if unable:
        parts.append(f"cannot on {', '.join(unable)}")
    return "; ".join(parts)


def _about_balance(deployments: Sequence[Deployment]) -> str:
    parts = []
    for d in deployments:
        if len(d.replicas) > 1 or d.hedge is not None:
            hedge = (
                ""
                if d.hedge is None
                else f", hedged after {d.hedge.delay if d.hedge.delay == 'p95' else f'{d.hedge.delay:g}s'}"
            )
            parts.append(f"{d.label}: {d.balance} over {len(d.replicas)} replicas{hedge}")
    return "; ".join(parts) if parts else "one replica per deployment: nothing to balance"


def _about_retry(r: Retry) -> str:
    return (
        f"up to {r.attempts} attempts; backoff {r.initial:g}s x{r.exp_base:g} up to {r.maximum:g}s; "
        f"Retry-After up to {r.max_retry_after:g}s"
    )


def _about_breaker(b: Breaker) -> str:
    if b.fail_max is not None:
        rule = f"opens after {b.fail_max} consecutive failures"
    else:
        rule = f"opens at {b.failure_rate:.0%} failures of >= {b.minimum_calls} calls in {b.window:g}s"
    return f"{rule}; one probe after {b.reset_timeout:g}s"
