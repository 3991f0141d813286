"""The v1 engine's errors (vLLM 0.33.0)."""


class EngineGenerateError(Exception):
    """Raised when an AsyncLLM.generate() fails. Recoverable."""


class EngineDeadError(Exception):
    """Raised when the EngineCore dies. Unrecoverable."""
