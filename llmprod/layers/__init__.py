"""Layers: the policies of a client's stack, and what it takes to write your own.

A layer opens a call (:class:`Call`) and hands back what it opened (:class:`Opened`):
``docs/architecture.md`` (the Architecture page) explains the shape. Put yours
in a client's stack with ``AsyncClient(layers=[Insert(name, factory, before=...)])``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .._core.call import Call as Call
    from .._core.call import Layer as Layer
    from .._core.call import Opened as Opened
    from .._core.call import complete as complete
    from .._core.call import stream as stream
    from .._core.stack import Insert as Insert
    from .._core.stack import LayerSpec as LayerSpec
    from .._core.stack import StackConfig as StackConfig
    from .._core.stack import describe as describe
    from .._core.stack import layer_specs as layer_specs
    from .attempt import as_layer as as_layer

__getattr__, __dir__ = exports(__package__, __file__, globals())
