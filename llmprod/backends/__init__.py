"""Backends: the providers a client calls, and what it takes to write one.

A backend is anything with ``name``, ``complete(request)``, ``stream(request)`` and
``aclose()`` (:class:`Backend`); the stack's attempt layer turns it into the call shape
every layer speaks. Each provider lives in its own module and imports its dependencies
(httpx, vLLM, transformers) only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .._core.backend import Backend as Backend
    from .._core.models import AttemptRecord as AttemptRecord
    from .._core.models import ChatChunk as ChatChunk
    from .._core.models import ChatRequest as ChatRequest
    from .._core.models import ChatResponse as ChatResponse
    from .._core.models import EmbedRequest as EmbedRequest
    from .._core.models import EmbedResponse as EmbedResponse
    from .._core.models import RequestMetadata as RequestMetadata
    from .._core.models import StreamAssembler as StreamAssembler
    from .._core.models import Usage as Usage
    from .anthropic import Anthropic as Anthropic
    from .azure import AzureOpenAI as AzureOpenAI
    from .cohere import Cohere as Cohere
    from .openai import PRESETS as PRESETS
    from .openai import OpenAICompatible as OpenAICompatible
    from .openai import Preset as Preset
    from .simulated import Latency as Latency
    from .simulated import Simulated as Simulated
    from .transformers import Transformers as Transformers
    from .vllm import VLLM as VLLM

__getattr__, __dir__ = exports(__package__, __file__, globals())
