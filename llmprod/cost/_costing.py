"""What a client's deployments cost: token prices for APIs, GPU shares for self-hosted.

Used by the cost layer. Prices come from, in order: a backend that declares its own
(``input_price`` / ``output_price`` attributes, as the simulated provider does), then
the price table (``llmprod.cost.prices``). A deployment with ``gpu_hourly_usd`` is
self-hosted and priced by :class:`~llmprod.cost._gpu.GpuMeter` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._core.deployment import Deployment
from .._core.models import AttemptRecord, ChatRequest, ChatResponse, EmbedRequest, Usage
from ._gpu import GpuMeter
from ._prices import Price, PriceTable, cost, worst_case
from ._tokens import count_request, count_text


@dataclass(slots=True)
class CallCost:
    """One call's cost bookkeeping while it runs. The prompt is counted only when
    needed (a budget, a GPU meter, or a provider that reports no usage)."""

    request: ChatRequest
    model: str | None
    meter: GpuMeter | None = None
    ticket: int | None = None
    _prompt: int | None = None

    @property
    def prompt_tokens(self) -> int:
        if self._prompt is None:
            self._prompt = count_request(self.request, self.model).tokens
        return self._prompt


def declared_price(backend: object) -> Price | None:
    """A backend's own prices (USD per million tokens), when it declares them."""
    model = getattr(backend, "model", None)
    inp, out = getattr(backend, "input_price", None), getattr(backend, "output_price", None)
    if not isinstance(model, str) or not isinstance(inp, int | float) or not isinstance(out, int | float):
        return None
    window = getattr(backend, "context_window", None)
    return Price(
        model=model,
        input=inp,
        output=out,
        cached_input=getattr(backend, "cached_input_price", None),
        context_window=window if isinstance(window, int) else None,
        source="declared by the backend",
    )


class DeploymentCosts:
    """Prices the calls of one client's fallback chain of deployments."""

    def __init__(self, deployments: Sequence[Deployment], table: PriceTable) -> None:
        self.table = table
        self.deployments = list(deployments)
        self.declared: dict[str, Price] = {}
        self.meters: dict[str, GpuMeter] = {}
        self.models: dict[str, str | None] = {}
        self.owner: dict[str, str] = {}  # replica or deployment name -> deployment label
        for d in self.deployments:
            self.models[d.label] = getattr(d.replicas[0], "model", None)
            self.owner.update({r.name: d.label for r in d.replicas})
            self.owner[d.label] = d.label
            if d.gpu_hourly_usd is not None:
                self.meters[d.label] = GpuMeter(hourly_usd=d.gpu_hourly_usd, gpus=d.gpus)
                continue  # self-hosted: priced by GPU time, whatever its backend declares
            for replica in d.replicas:
                price = declared_price(replica)
                if price is not None:
                    self.declared.setdefault(price.model, price)
        # Requests enter the meter of the chain's first deployment, where they run
        # unless it fails (see docs/cost.md).
        self.primary = self.meters.get(self.deployments[0].label) if self.deployments else None
        for model in self.models.values():  # read the price table now, not on the first call
            table.find(model)

    def price(self, model: str | None) -> Price | None:
        if model and model in self.declared:
            return self.declared[model]
        return self.table.lookup(model)

    def start(self, request: ChatRequest) -> CallCost:
        call = CallCost(request, request.model or self.models.get(self.deployments[0].label))
        if self.primary is not None:
            call.meter = self.primary
            call.ticket = self.primary.start(self.primary.expected_weight(call.prompt_tokens, request.max_tokens))
        return call

    def worst_case(self, request: ChatRequest, call: CallCost, time_left: float | None = None) -> float | None:
        """The most this call can cost on any deployment of the chain; None if unbounded."""
        worst = 0.0
        left = 60.0 if time_left is None else time_left
        for d in self.deployments:
            meter = self.meters.get(d.label)
            if meter is not None:
                worst = max(worst, meter.worst_case(left))
                continue
            price = self.price(request.model or self.models.get(d.label))
            if price is None:
                continue  # unpriced: its cost is unknown (None), not counted
            if request.max_tokens is not None:
                limit: int | None = request.max_tokens
            elif isinstance(request, EmbedRequest):
                limit = 0  # embeddings generate no tokens: the inputs are the whole cost
            else:
                limit = price.output_limit(call.prompt_tokens)
            if limit is None:
                return None
            worst = max(worst, worst_case(call.prompt_tokens, limit, price))
        return worst

    def settle(
        self, request: ChatRequest, response: ChatResponse, call: CallCost, attempts: Sequence[AttemptRecord] = ()
    ) -> tuple[Usage, float | None]:
        """The answer's usage (estimated when the provider reported none) and its cost."""
        usage = response.usage
        if usage.prompt_tokens == 0 and usage.completion_tokens == 0:
            model = response.model or request.model
            completion = count_text(response.text, model).tokens
            usage = Usage(prompt_tokens=call.prompt_tokens, completion_tokens=completion, estimated=True)
        gpu = self.finish(call, usage.completion_tokens)
        label = self.owner.get(response.deployment, response.deployment)
        meter = self.meters.get(label)
        if meter is not None and call.meter is meter:
            return usage, gpu
        if meter is not None:  # a self-hosted fallback: its attempts' time, unshared
            busy = sum(a.latency for a in attempts if a.deployment == label)
            return usage, gpu + meter.worst_case(busy or response.latency)
        price = self.price(response.model or request.model)
        return usage, cost(usage, price) + gpu if price is not None else None

    def finish(self, call: CallCost, completion_tokens: int | None = None) -> float:
        if call.meter is None or call.ticket is None:
            return 0.0
        share = call.meter.finish(call.ticket, completion_tokens)
        call.ticket = None
        return share

    def partial(self, request: ChatRequest, call: CallCost, text: str) -> float | None:
        """The cost of a stream that broke after sending ``text``: what was generated."""
        if call.meter is not None:
            return self.finish(call)
        model = request.model or self.models.get(self.deployments[0].label)
        price = self.price(model)
        if price is None:
            return None
        return cost(Usage(prompt_tokens=call.prompt_tokens, completion_tokens=count_text(text, model).tokens), price)
