"""The access layer: authenticates the call's API key and applies that key's policy.

It sits just inside telemetry, so a refused call costs nothing below it. An accepted
call goes on with the key's tenant set on the request (billing, cache namespace and
tenant limits follow it) and the key's own budget; the key's own rate limit is the
rate-limit layer's (it knows each key's limits by digest).
"""

from __future__ import annotations

from dataclasses import replace

from .._core.call import Call, Layer, Opened
from .._core.errors import AccessDeniedError
from .._core.events import Emit, GuardTriggered
from .._safety.access import AccessPolicy

KEY_TAG = "llmprod.api_key"


class AccessLayer(Layer):
    """Refuses unknown or disallowed keys with :class:`AccessDeniedError`."""

    def __init__(self, inner: Layer, policy: AccessPolicy, emit: Emit) -> None:
        super().__init__(inner)
        self.policy = policy
        self.emit = emit

    def _admit(self, call: Call) -> Call:
        request = call.request
        try:
            key = self.policy.authorize(request)
        except AccessDeniedError as exc:
            self.emit(GuardTriggered(call.id, "access", "input", "block", exc.message))
            raise
        metadata = request.metadata
        if key.tenant is not None and key.tenant != metadata.tenant:
            metadata = replace(metadata, tenant=key.tenant)
        if key.budget is not None:
            # The key's budget counts this key's calls only: it is scoped by a tag naming the key.
            tags = {**metadata.tags, KEY_TAG: key.name}
            metadata = replace(metadata, tags=tags, budget=replace(key.budget, per=f"tag:{KEY_TAG}"))
        if metadata is request.metadata:
            return call
        return call.with_request(replace(request, metadata=metadata))

    async def open(self, call: Call) -> Opened:
        admitted = self._admit(call)
        opened = await self.inner.open(admitted)
        opened.tenant = admitted.request.metadata.tenant  # the key's tenant: what the call is billed to
        return opened
