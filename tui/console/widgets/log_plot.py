"""LogPlot: the base of the console's plots, log axes drawn as log10 values with decade ticks.

plotext's own log scale fails with "math domain error" when a log-scaled plot
is redrawn (textual-plotext README, NOTES.md); plotting log10 values on linear
axes with ticks labelled 10^k is robust and gives the same picture.

A plot is drawn only inside `render()` (so a hidden screen costs nothing) and
only re-built when the data it shows changed (the curves' versions), the
widget was resized or the theme changed; otherwise the last frame is reused.
"""

from __future__ import annotations

import math
import time
from typing import Iterable, Sequence

import numpy as np
from textual_plotext import PlotextPlot

from ..curves import RunCurves

# 16-colour names (plotext maps these to the terminal's own palette): readable anywhere.
PALETTE = ("cyan+", "magenta+", "orange+", "green+", "red+", "blue+")
MARKER_COLOR = "red"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def palette(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def decade_label(k: int) -> str:
    """10^k as '10²', '10⁻³'."""
    return "10" + str(k).translate(_SUPERSCRIPT)


def decade_ticks(lo: float, hi: float, room: int) -> tuple[tuple[int, int], list[int], list[str]]:
    """Axis limits widened to whole decades, and the decades to label (thinned to fit `room` labels)."""
    a, b = math.floor(lo), math.ceil(hi)
    if b <= a:
        b = a + 1
    every = max(1, math.ceil((b - a + 1) / max(room, 2)))
    ticks = list(range(a, b + 1, every))
    return (a, b), ticks, [decade_label(k) for k in ticks]


def log10_positive(x: Sequence[float], y: Sequence[float], log_y: bool) -> tuple[np.ndarray, np.ndarray]:
    """(log10 x, y or log10 y) over the points where the logs exist and the values are finite."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = (x > 0) & np.isfinite(y) & ((y > 0) if log_y else True)
    return np.log10(x[ok]), (np.log10(y[ok]) if log_y else y[ok])


class LogPlot(PlotextPlot):
    """A plot of one or more runs' curves; subclasses say what in `draw()`."""

    TITLE = ""
    LOG_Y = True

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.runs: list[RunCurves] = []
        self.slots: list[int] = []
        self._drawn_key = None
        self._rendered = None
        self._rebuilt = False
        self._points: list[tuple[np.ndarray, np.ndarray]] = []
        self.render_cost = 0.0  # seconds the last rebuild took, strips included (the live screen paces by it)

    # -- data in -------------------------------------------------------------
    def show(self, runs: Iterable[RunCurves], slots: list[int] | None = None) -> None:
        """Plot these runs; run k is drawn in colour slot slots[k] (default k)."""
        self.runs = list(runs)
        self.slots = list(slots) if slots is not None else list(range(len(self.runs)))
        self._drawn_key = None
        self.update_curves()

    def update_curves(self) -> None:
        """Ask for a redraw if the shown data changed since the last one."""
        if self._key() != self._drawn_key:
            self.refresh()

    def _key(self):
        return (tuple((id(c), c.version) for c in self.runs), tuple(self.slots), tuple(self.size),
                self.app.theme if self.is_attached else None)

    # -- drawing -------------------------------------------------------------
    def render(self):
        key = self._key()
        if key != self._drawn_key or self._rendered is None:
            self._drawn_key = key
            self._rebuild()
            self._rendered = super().render()  # plotext's build: tens of ms of pure Python
            self._rebuilt = True
        return self._rendered

    def render_lines(self, crop):
        """Textual's strips of the plot; timed when the plot was rebuilt (plotext plus strips)."""
        t0 = time.perf_counter()
        self._rebuilt = False
        strips = super().render_lines(crop)
        if self._rebuilt:
            self.render_cost = time.perf_counter() - t0
        return strips

    def _rebuild(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(self.TITLE)
        self._points = []
        self.draw()
        if not self._points:
            plt.xticks([], [])
            plt.yticks([], [])
            plt.title(f"{self.TITLE}: no data yet")
            return
        xs = np.concatenate([p[0] for p in self._points])
        ys = np.concatenate([p[1] for p in self._points])
        width, height = max(self.size.width, 20), max(self.size.height, 6)
        (x0, x1), ticks, labels = decade_ticks(xs.min(), xs.max(), width // 7)
        plt.xlim(x0, x1)
        plt.xticks(ticks, labels)
        if self.LOG_Y:
            (y0, y1), ticks, labels = decade_ticks(ys.min(), ys.max(), height // 2)
            plt.ylim(y0, y1)
            plt.yticks(ticks, labels)
        else:
            lo, hi = float(ys.min()), float(ys.max())
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1e-12)
            plt.ylim(lo - pad, hi + pad)

    def line(self, x, y, color: str, label: str | None = None, marker: str = "braille") -> None:
        """Plot y against x (both already in plot coordinates) and remember the points for the axes."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.size == 0:
            return
        self._points.append((x, y))
        if x.size == 1:
            self.plt.scatter(x.tolist(), y.tolist(), color=color, label=label, marker=marker)
        else:
            self.plt.plot(x.tolist(), y.tolist(), color=color, label=label, marker=marker)

    def switch_lines(self) -> None:
        """A vertical marker at each dynamics switch of the shown runs (x = log10 step)."""
        for c in self.runs:
            for s in c.switches:
                if s.step > 0:
                    self.plt.vline(math.log10(s.step), MARKER_COLOR)

    def run_color(self, k: int) -> str:
        """The colour of run k when overlaid (its slot's)."""
        return PALETTE[self.slots[k] % len(PALETTE)] if k < len(self.slots) else PALETTE[k % len(PALETTE)]

    def tag(self, k: int) -> str:
        """The legend's name for run k when overlaid: its slot, counted from 1."""
        return str((self.slots[k] if k < len(self.slots) else k) + 1)

    def draw(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
