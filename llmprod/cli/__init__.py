"""The ``llmprod`` command line: ``demo``, ``bench``, ``prices``, ``check-config``."""

from ._main import main

__all__ = ["main"]
