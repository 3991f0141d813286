"""The running batch of the transformers engine: its rows' shared, left-padded KV cache.

Continuous batching on top of transformers' ``DynamicCache``: every row's past sits in one
cache of shape ``[rows, heads, columns, head_dim]`` per layer, right-aligned (left
padding), with a 0/1 ``mask`` over the columns and each row's next position. A decode
step feeds every row's pending token in one forward pass. New rows are prefilled in a
pass of their own and joined to the cache (the shorter side padded on the left); rows
that finish are dropped at once, and the columns that are padding in every remaining row
are trimmed away. Masked columns contribute exactly nothing to attention, and positions
are per row, so a row generates what it would generate alone.

Joining rewrites the cache tensors of each layer (``layer.keys`` / ``layer.values``),
which only plain ``DynamicLayer`` layers allow; with other layers (sliding windows, say)
:attr:`RunningBatch.joinable` is False and new rows wait for the batch to drain.

Nothing here imports torch: the engine passes the module in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RunningBatch:
    """Rows generating together (``rows`` holds the caller's objects, in cache order)."""

    def __init__(self, *, torch: Any, model: Any, device: Any, pad_id: int, cache_arg: str) -> None:
        self._torch = torch
        self._model = model
        self._device = device
        self._pad_id = pad_id
        self._cache_arg = cache_arg
        self.rows: list[Any] = []
        self.pending: list[int] = []  # each row's sampled token, not yet fed to the model
        self._cache: Any = None
        self._mask: Any = None  # [rows, columns]: 1 where the column is one of the row's tokens
        self._positions: Any = None  # [rows, 1]: the position of each row's pending token
        self._joining: Any = None  # the rows of the last prefill, until join()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def joinable(self) -> bool:
        """Whether new rows can join now (always when empty)."""
        return not self.rows or self._cache is None or self._plain_layers()

    def _plain_layers(self) -> bool:
        layers: Any = getattr(self._cache, "layers", None)
        return bool(layers) and all(type(layer).__name__ == "DynamicLayer" for layer in layers)

    def prefill(self, rows: Sequence[Any], prompts: Sequence[Sequence[int]]) -> Any:
        """Run the prompts of new rows; returns their last logits ``[len(rows), vocab]``.

        The rows are not in the batch yet: :meth:`join` adds them with their first tokens.
        """
        torch = self._torch
        longest = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), longest), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), longest), dtype=torch.long)
        for i, prompt in enumerate(prompts):  # left padding: every prompt ends at the last column
            ids[i, longest - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[i, longest - len(prompt) :] = 1
        ids, mask = ids.to(self._device), mask.to(self._device)
        out = self._forward(ids, mask, (mask.cumsum(-1) - 1).clamp(min=0), None)
        self._joining = (list(rows), getattr(out, self._cache_arg), mask, mask.sum(-1, keepdim=True))
        return out.logits[:, -1, :]

    def join(self, keep: Sequence[int], tokens: Sequence[int]) -> None:
        """Add the rows at ``keep`` of the last :meth:`prefill` (the others ended on their
        first token), with their first sampled ``tokens``."""
        rows, cache, mask, positions = self._joining
        self._joining = None
        if not keep:
            return
        if len(keep) < len(rows):
            index = self._torch.tensor(list(keep), device=self._device)
            cache.batch_select_indices(index)
            rows, mask, positions = [rows[i] for i in keep], mask[index], positions[index]
        if not self.rows:
            self.rows, self.pending = rows, list(tokens)
            self._cache, self._mask, self._positions = cache, mask, positions
            return
        torch = self._torch
        width = max(self._mask.shape[1], mask.shape[1])
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_pad_left(torch, old.keys, width, 2), _pad_left(torch, new.keys, width, 2)])
            old.values = torch.cat([_pad_left(torch, old.values, width, 2), _pad_left(torch, new.values, width, 2)])
        self._mask = torch.cat([_pad_left(torch, self._mask, width, 1), _pad_left(torch, mask, width, 1)])
        self._positions = torch.cat([self._positions, positions])
        self.rows = self.rows + rows
        self.pending = self.pending + list(tokens)

    def decode(self) -> Any:
        """Feed every row's pending token; returns the next logits ``[rows, vocab]``."""
        torch = self._torch
        ids = torch.tensor(self.pending, dtype=torch.long, device=self._device).unsqueeze(-1)
        self._mask = torch.cat([self._mask, self._mask.new_ones((len(self.rows), 1))], dim=-1)
        out = self._forward(ids, self._mask, self._positions, self._cache)
        self._cache = getattr(out, self._cache_arg)
        self._positions = self._positions + 1
        return out.logits[:, -1, :]

    def keep(self, indices: Sequence[int], tokens: Sequence[int]) -> None:
        """Keep only the rows at ``indices`` (their next pending ``tokens``); frees the others now."""
        if len(indices) == len(self.rows):
            self.pending = list(tokens)
            return
        if not indices:
            self.clear()
            return
        torch = self._torch
        index = torch.tensor(list(indices), device=self._device)
        self._mask, self._positions = self._mask[index], self._positions[index]
        if self._plain_layers():
            lead = int((self._mask.sum(0) == 0).long().cumprod(0).sum())  # columns that are padding in every row
            for layer in self._cache.layers:
                layer.keys = layer.keys[index, :, lead:]
                layer.values = layer.values[index, :, lead:]
            self._mask = self._mask[:, lead:]
        else:
            self._cache.batch_select_indices(index)
        self.rows = [self.rows[i] for i in indices]
        self.pending = list(tokens)

    def clear(self) -> None:
        self.rows, self.pending = [], []
        self._cache = self._mask = self._positions = None
        self._joining = None

    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any) -> Any:
        return self._model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_arg: cache},
        )


def _pad_left(torch: Any, tensor: Any, width: int, dim: int) -> Any:
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)
