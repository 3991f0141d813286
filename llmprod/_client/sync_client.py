"""The sync client: the same core as :class:`AsyncClient`, on a loop thread it owns."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack, cast

from .._core.arguments import ChatArgs
from .._core.backend import Backend
from .._core.call import complete, stream
from .._core.deployment import Deployment
from .._core.embedding import EmbedArgs
from .._core.errors import LLMProdError
from .._core.events import Emitter, Feedback, Hook
from .._core.models import ChatChunk, ChatResponse, EmbedResponse
from ..cost._report import CostReport
from ..telemetry._stats import Stats
from .async_client import AsyncClient, feedback_event
from .runner import LoopThread


class Client:
    """The sync client: the same core as :class:`AsyncClient`, on a loop thread it owns.

    Safe to share between threads, and usable inside a running event loop (a
    notebook). ``close()`` (or ``with``) ends the calls still in flight with
    :class:`ClientClosedError`, closes the backends and stops the thread.

    Example::

        with llmprod.Client() as client:
            print(client.chat("hello").text)
            for chunk in client.stream("Write a haiku"):
                print(chunk.text, end="")
    """

    def __init__(
        self, deployments: Backend | Deployment | Sequence[Backend | Deployment] | None = None, **options: Any
    ) -> None:
        self._async = AsyncClient(deployments, **options)
        self._runner = LoopThread()
        # A client that is never closed is still closed when collected or at exit,
        # so its connections are released and no "unclosed session" warning is printed.
        self._finalizer = weakref.finalize(self, _shut_down, self._runner, self._async)

    def __repr__(self) -> str:
        return f"Client([{', '.join(d.label for d in self._async.deployments)}])"

    def _repr_html_(self) -> str:
        from .._core.display import preformatted

        return preformatted(repr(self) + "\n" + self.describe())

    def describe(self) -> str:
        """See :meth:`AsyncClient.describe`."""
        return self._async.describe()

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any], **overrides: Any) -> Client:
        """See :meth:`AsyncClient.from_config`."""
        from .config_file import load_config

        spec = load_config(source)
        client = cls(spec.deployments, **{**spec.options, **overrides})
        client._async.metrics_server = spec.metrics_server
        return client

    @property
    def metrics_server(self) -> Any:
        """See :meth:`AsyncClient.from_config`."""
        return self._async.metrics_server

    @property
    def aio(self) -> AsyncClient:
        """The async core, for code that has an event loop of its own."""
        return self._async

    @property
    def hooks(self) -> list[Hook]:
        return self._async.hooks

    def chat(self, prompt: str | None = None, /, **kwargs: Unpack[ChatArgs]) -> ChatResponse:
        """See :meth:`AsyncClient.chat`."""
        call = self._async.prepare(prompt, kwargs, stream=False)  # bad input raises here, in this thread
        return self._runner.run(complete(self._async._root, call))

    def stream(self, prompt: str | None = None, /, **kwargs: Unpack[ChatArgs]) -> Iterator[ChatChunk]:
        """See :meth:`AsyncClient.stream`; a plain iterator. The chunks are read ahead on
        the client's loop and handed over as they arrive."""
        call = self._async.prepare(prompt, kwargs, stream=True)
        return self._runner.iterate(stream(self._async._root, call))

    def embed(self, input: str | Sequence[str], /, **kwargs: Unpack[EmbedArgs]) -> EmbedResponse:
        """See :meth:`AsyncClient.embed`."""
        call = self._async.prepare_embed(input, kwargs)
        return cast(EmbedResponse, self._runner.run(complete(self._async._root, call)))

    def batch(
        self,
        prompts: Sequence[str | Sequence[Mapping[str, Any]]],
        *,
        concurrency: int = 8,
        progress: bool | Callable[[int, int], None] = False,
        **kwargs: Unpack[ChatArgs],
    ) -> list[ChatResponse | LLMProdError]:
        """See :meth:`AsyncClient.batch`."""
        return self._runner.run(self._async.batch(prompts, concurrency=concurrency, progress=progress, **kwargs))

    def stats(self) -> Stats:
        """See :meth:`AsyncClient.stats`."""
        return self._async.stats()

    def costs(self) -> CostReport:
        """See :meth:`AsyncClient.costs`."""
        return self._async.costs()

    def feedback(self, response_id: str, *, score: float | None = None, label: str | None = None) -> None:
        """See :meth:`AsyncClient.feedback`; the hooks run on the client's loop thread."""
        self._runner.run(_emit_on_loop(self._async._emit, feedback_event(response_id, score, label)))

    def start(self) -> None:
        """See :meth:`AsyncClient.start`: engines load on the client's own loop thread."""
        self._runner.run(self._async.start())

    def close(self) -> None:
        """End the calls in flight, close the backends (connections, engines), stop the thread."""
        self._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _emit_on_loop(emit: Emitter, event: Feedback) -> None:
    emit(event)


def _shut_down(runner: LoopThread, client: AsyncClient) -> None:
    runner.stop(client.aclose())
