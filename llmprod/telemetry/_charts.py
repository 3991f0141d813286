"""Charts from plain numbers: text for a terminal, SVG for a notebook, matplotlib on request.

Nothing here knows llmprod's data classes; callers pass lists of numbers and labels.
The text and SVG charts need only the standard library; :func:`require_matplotlib`
names the extra when matplotlib is missing.
"""

from __future__ import annotations

import html
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .._core.errors import MissingDependencyError

BLOCKS = " ▏▎▍▌▋▊▉█"
COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")


def bins(values: Sequence[float], count: int = 12, *, clip: float = 0.99) -> list[tuple[float, float, int]]:
    """``count`` equal-width bins over ``values``: (low, high, how many). Empty for no values.

    Bins span the lowest value to the ``clip`` quantile, so that one slow outlier does not
    squeeze every other value into the first bin; values above it make one more bin.
    """
    if not values:
        return []
    ordered = sorted(values)
    low, top = ordered[0], ordered[-1]
    high = ordered[max(math.ceil(len(ordered) * clip) - 1, 0)] if len(ordered) >= 20 else top
    if high <= low:
        high = top
    if high <= low:
        return [(low, top, len(values))]
    width = (high - low) / count
    counts = [0] * count
    above = 0
    for v in ordered:
        if v > high:
            above += 1
        else:
            counts[min(int((v - low) / width), count - 1)] += 1
    out = [(low + i * width, low + (i + 1) * width, n) for i, n in enumerate(counts)]
    if above:
        out.append((high, top, above))
    return out


def _bar(n: int, most: int, width: int) -> str:
    eighths = round(n / most * width * 8) if most else 0
    return "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def text_histogram(values: Sequence[float], *, count: int = 12, width: int = 40, unit: str = "ms") -> list[str]:
    """A histogram drawn with block characters, one line per bin."""
    rows = bins(values, count)
    if not rows:
        return ["  (no data)"]
    most = max(n for _, _, n in rows)
    step = rows[0][1] - rows[0][0]
    digits = 0 if step >= 5 else 1 if step >= 0.5 else 2
    labels = [f"{lo:,.{digits}f}-{hi:,.{digits}f} {unit}" for lo, hi, _ in rows]
    pad = max(len(label) for label in labels)
    counts = [n for _, _, n in rows]
    return [f"  {label:>{pad}} |{_bar(n, most, width):<{width}} {n}" for label, n in zip(labels, counts, strict=True)]


def text_bars(items: Mapping[str, float], *, width: int = 40, fmt: str = "{:,.4f}") -> list[str]:
    """Horizontal bars, one line per label, longest value first."""
    if not items:
        return ["  (no data)"]
    ordered = sorted(items.items(), key=lambda kv: -kv[1])
    most = max(v for _, v in ordered) or 1.0
    pad = max(len(k) for k, _ in ordered)
    scale = 1000 / most
    return [f"  {k:<{pad}} |{_bar(round(v * scale), 1000, width):<{width}} {fmt.format(v)}" for k, v in ordered]


# ---------------------------------------------------------------- SVG (notebooks)

W, H, PAD = 380, 180, 54


def _svg(title: str, body: str, x_label: str, y_label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H + 30}' "
        f"style='font:11px sans-serif;margin:4px 12px 4px 0'>"
        f"<text x='{(W + PAD) / 2}' y='12' text-anchor='middle' font-weight='bold'>{html.escape(title)}</text>"
        f"<g transform='translate(0,16)'>{body}"
        f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - 8}' y2='{H - PAD}' stroke='#444'/>"
        f"<line x1='{PAD}' y1='8' x2='{PAD}' y2='{H - PAD}' stroke='#444'/>"
        f"<text x='{(W + PAD) / 2}' y='{H - 6}' text-anchor='middle'>{html.escape(x_label)}</text>"
        f"<text x='12' y='{(H - PAD) / 2}' text-anchor='middle' transform='rotate(-90 12 {(H - PAD) / 2})'>"
        f"{html.escape(y_label)}</text></g></svg>"
    )


def _tick(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


def svg_histogram(values: Sequence[float], *, title: str, unit: str, count: int = 20) -> str:
    rows = bins(values, count)
    if not rows:
        return _svg(title, "<text x='120' y='80'>no data</text>", unit, "calls")
    most = max(n for _, _, n in rows)
    plot_w, plot_h = W - PAD - 8, H - PAD - 8
    step = plot_w / len(rows)
    bars = "".join(
        f"<rect x='{PAD + i * step + 1:.1f}' y='{H - PAD - n / most * plot_h:.1f}' width='{max(step - 2, 1):.1f}' "
        f"height='{n / most * plot_h:.1f}' fill='{COLORS[0]}'><title>{_tick(lo)}-{_tick(hi)} {unit}: {n}</title></rect>"
        for i, (lo, hi, n) in enumerate(rows)
    )
    ticks = (
        f"<text x='{PAD}' y='{H - PAD + 12}' text-anchor='middle'>{_tick(rows[0][0])}</text>"
        f"<text x='{W - 8}' y='{H - PAD + 12}' text-anchor='end'>{_tick(rows[-1][1])}</text>"
        f"<text x='{PAD - 3}' y='14' text-anchor='end'>{most}</text>"
        f"<text x='{PAD - 3}' y='{H - PAD}' text-anchor='end'>0</text>"
    )
    return _svg(title, bars + ticks, unit, "calls")


def svg_bars(items: Mapping[str, float], *, title: str, unit: str) -> str:
    ordered = sorted(items.items(), key=lambda kv: -kv[1])[:8]
    if not ordered:
        return _svg(title, "<text x='120' y='80'>no data</text>", "", unit)
    most = max(v for _, v in ordered) or 1.0
    plot_w, plot_h = W - PAD - 8, H - PAD - 8
    step = plot_w / len(ordered)
    parts = []
    for i, (label, value) in enumerate(ordered):
        h = value / most * plot_h
        x = PAD + i * step
        parts.append(
            f"<rect x='{x + 3:.1f}' y='{H - PAD - h:.1f}' width='{max(step - 6, 1):.1f}' height='{h:.1f}' "
            f"fill='{COLORS[i % len(COLORS)]}'><title>{html.escape(label)}: {_tick(value)} {unit}</title></rect>"
            f"<text x='{x + step / 2:.1f}' y='{H - PAD + 12}' text-anchor='middle'>{html.escape(label[:14])}</text>"
        )
    parts.append(f"<text x='{PAD - 3}' y='14' text-anchor='end'>{_tick(most)}</text>")
    return _svg(title, "".join(parts), "", unit)


def svg_lines(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str, x_label: str, y_label: str) -> str:
    points = [p for line in series.values() for p in line]
    if not points:
        return _svg(title, "<text x='120' y='80'>no data</text>", x_label, y_label)
    x0, x1 = min(x for x, _ in points), max(x for x, _ in points)
    y1 = max(y for _, y in points) or 1.0
    span = (x1 - x0) or 1.0
    plot_w, plot_h = W - PAD - 8, H - PAD - 8
    parts = []
    for i, (name, line) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{PAD + (x - x0) / span * plot_w:.1f},{H - PAD - y / y1 * plot_h:.1f}" for x, y in line)
        parts.append(f"<polyline points='{coords}' fill='none' stroke='{color}' stroke-width='2'/>")
        parts.append(f"<text x='{PAD + 6}' y='{14 + 12 * i}' fill='{color}'>{html.escape(name[:30])}</text>")
    parts.append(f"<text x='{PAD}' y='{H - PAD + 12}' text-anchor='middle'>0</text>")
    parts.append(f"<text x='{W - 8}' y='{H - PAD + 12}' text-anchor='end'>{_tick(span)}</text>")
    parts.append(f"<text x='{PAD - 3}' y='14' text-anchor='end'>{_tick(y1)}</text>")
    parts.append(f"<text x='{PAD - 3}' y='{H - PAD}' text-anchor='end'>0</text>")
    return _svg(title, "".join(parts), x_label, y_label)


def nice_unit(seconds: Sequence[float]) -> tuple[float, str]:
    """A scale and unit for latencies given in seconds: ms below 10 s, else s."""
    top = max(seconds, default=0.0)
    return (1000.0, "ms") if top < 10 else (1.0, "s")


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` (not pyplot's: no global state, shown once in a notebook).

    Names the ``notebook`` extra when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("matplotlib", "notebook") from None
    if "ipykernel" in sys.modules:
        # In Jupyter, loading the (inline) backend teaches IPython to show a Figure as an
        # image; the figure itself stays out of pyplot's global list, so it shows once.
        import matplotlib
        import matplotlib.pyplot

        matplotlib.pyplot.switch_backend(matplotlib.get_backend())
    return Figure(figsize=(width, height))
