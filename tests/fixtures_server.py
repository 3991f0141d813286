"""Pytest plugin: the loopback fault server, one per test.

Usage::

    async def test_something(fault_server):
        fault_server.push(Fault.error(503))
        backend = OpenAICompatible(base_url=fault_server.url, model="m")
        ...

``sync_fault_server`` is the same server on its own thread, for sync tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from llmprod.testing import FaultServer


@pytest.fixture
async def fault_server() -> AsyncIterator[FaultServer]:
    async with FaultServer() as server:
        yield server


@pytest.fixture
def sync_fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server
