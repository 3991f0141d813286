"""Token ids in, text deltas out: incremental detokenization and stop strings.

Pure Python (the tokenizer's ``decode`` is passed in), so it is tested without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Decode = Callable[[Sequence[int]], str]


class TextOutput:
    """The text of one generated sequence, released as safe deltas.

    Decoding token by token breaks characters spread over several tokens (byte-level
    BPE) and leading spaces (SentencePiece), so each step decodes a short window
    (``prefix_offset`` to the end) and releases only what it adds to the window's
    previous text, and nothing while the window ends in half a character.

    Stop strings: the text up to the first stop string is the answer; while the text
    ends with the beginning of a stop string, that tail is held back, so a streamed
    delta never shows part of a stop string.
    """

    __slots__ = ("_decode", "_ids", "_prefix_offset", "_read_offset", "_sent", "_stop", "stopped", "text")

    def __init__(self, decode: Decode, stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = tuple(s for s in stop if s)
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self._sent = 0
        self.text = ""
        self.stopped = False

    def add(self, token_id: int) -> str:
        """Take one generated token; return the text now safe to show (maybe "")."""
        if self.stopped:
            return ""
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix_offset : self._read_offset])
        after = self._decode(self._ids[self._prefix_offset :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.text += after[len(before) :]
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
        return self._release(final=False)

    def flush(self) -> str:
        """The generation ended: decode what is left and release everything."""
        if not self.stopped and self._read_offset < len(self._ids):
            before = self._decode(self._ids[self._prefix_offset : self._read_offset])
            after = self._decode(self._ids[self._prefix_offset :])
            self.text += after[len(before) :]
            self._read_offset = len(self._ids)
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        if self._stop and not self.stopped:
            start = max(0, self._sent - max(len(s) for s in self._stop))
            found = [i for i in (self.text.find(s, start) for s in self._stop) if i >= 0]
            if found:
                self.stopped = True
                self.text = self.text[: min(found)]
        end = len(self.text) if final or self.stopped else len(self.text) - self._held_back()
        end = max(end, self._sent)
        delta = self.text[self._sent : end]
        self._sent = end
        return delta

    def _held_back(self) -> int:
        """Length of the longest tail of the text that begins some stop string."""
        longest = 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(self.text)), longest, -1):
                if self.text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
