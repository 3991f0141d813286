"""Test your own resilience: a fault-injecting provider server and a fake backend.

:class:`FaultServer` is a real HTTP/1.1 server on loopback (standard library
asyncio only) that speaks providers' wire formats (OpenAI's chat completions;
Anthropic's and Cohere's where their wires are installed), records every request,
and fails on demand::

    from llmprod.testing import Fault, FaultServer

    async with FaultServer() as server:
        server.push(Fault.error(429, retry_after=1), Fault.cut(after=2))
        ...  # point a client at server.url
        assert len(server.requests) == 2

:class:`FakeBackend` is an in-process backend built from a function, for unit
tests of layers.
"""

from ._fake import FakeBackend
from ._fault import Fault
from ._server import FaultServer, RecordedRequest, refused_url, unused_port
from ._wire import Reply, Wire, WireError, WireRequest

__all__ = [
    "FakeBackend",
    "Fault",
    "FaultServer",
    "RecordedRequest",
    "Reply",
    "Wire",
    "WireError",
    "WireRequest",
    "refused_url",
    "unused_port",
]
