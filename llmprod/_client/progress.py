"""Progress for ``batch``: tqdm's bar when installed (in notebooks too), else one line."""

from __future__ import annotations

import sys
from collections.abc import Callable


class _TextProgress:
    """A one-line progress bar on stderr, for when tqdm is not installed."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


class _TqdmProgress:
    def __init__(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="llmprod batch")

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def progress_reporter(progress: bool | Callable[[int, int], None], total: int) -> Callable[[int, int], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda done, total: None
    try:
        return _TqdmProgress(total)
    except ImportError:
        return _TextProgress(total)
