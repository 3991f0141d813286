"""A stand-in for vLLM, left only for ``tests/test_every_backend.py`` in the sessions without vLLM.

``tests/engines/test_vllm.py`` runs against the real engine (vLLM's CPU build, ``nox -s
vllm``); this stand-in does not follow the real engine where it matters (its finish
reasons, abort after finish, shutdown), so nothing else should be tested against it.

It follows the API surface of vLLM 0.33.0 that ``llmprod.backends.vllm`` uses, module
for module, so the backend imports it exactly as it imports the real package:

- ``vllm.engine.arg_utils.AsyncEngineArgs``: a dataclass of engine arguments
  (unknown arguments raise ``TypeError``, as the real dataclass does);
- ``vllm.v1.engine.async_llm.AsyncLLM``: ``from_engine_args``, ``get_tokenizer``
  (plain method, as since vLLM 0.10), ``generate`` (an async generator of
  ``RequestOutput``; aborts on cancellation like the real one), ``abort``, ``shutdown``;
- ``vllm.sampling_params.SamplingParams`` / ``RequestOutputKind`` (CUMULATIVE, DELTA,
  FINAL_ONLY), with the real argument checks that raise ``ValueError``;
- ``vllm.outputs.RequestOutput`` / ``CompletionOutput``;
- ``vllm.v1.engine.exceptions.EngineDeadError`` / ``EngineGenerateError``.

Instead of a GPU it generates deterministic words, one token a word, and records
what a test needs to see: the engine arguments, every request, the requests in
flight (and the most ever in flight at once), aborts, shutdown. ``gate`` (an
``asyncio.Event``, open by default) holds every request before its first token;
``step_delay`` paces tokens. With prefix caching on, ``num_cached_tokens`` reports
the prompt prefix shared with an earlier request, in whole 16-token blocks.
"""

from .engine.arg_utils import AsyncEngineArgs, EngineArgs
from .outputs import CompletionOutput, RequestOutput
from .sampling_params import RequestOutputKind, SamplingParams

__version__ = "0.33.0+llmprod.standin"

__all__ = [
    "AsyncEngineArgs",
    "CompletionOutput",
    "EngineArgs",
    "RequestOutput",
    "RequestOutputKind",
    "SamplingParams",
]
