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

# One colour per curve, as RGB: Textual's theme maps the 16 ANSI names onto its own palette, where
# bright magenta and bright red both became colour 197 (and ESC[35m in 16 colours), so two t_w
# curves could not be told apart.  These six stay distinct in 256 colours (45, 207, 220, 77, 203,
# 69) and in 16 (bright cyan, magenta, yellow, green, red, blue): tests/console/test_console_units.py.
PALETTE = ((0, 215, 255), (255, 95, 255), (255, 215, 0), (95, 215, 95), (255, 95, 95), (95, 135, 255))
# Without colour (NO_COLOR) every curve is grey: each slot then gets its own marker instead (in an
# overlay each run's slot, and the curves of one run are named at their ends: LogPlot.line).
MARKERS = ("braille", "•", "+", "o", "*", "#")  # not x: that marks a switch
MARKER_COLOR = (230, 230, 230)  # a switch: no curve colour (254 and bright white)
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def palette(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


def rich_color(i: int) -> str:
    """Slot i's colour as a Rich colour (the runs table and legend mark a run with it)."""
    r, g, b = palette(i)
    return f"rgb({r},{g},{b})"


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


def nice_range(lo: float, hi: float, room: int) -> tuple[float, float, list[float]]:
    """A linear axis: limits on round numbers and evenly spaced round ticks (1, 2 or 5 x 10^k), at most
    about `room` of them."""
    if not hi > lo:
        pad = max(abs(hi) * 0.1, 1e-12)
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(room, 1)
    k = 10.0 ** math.floor(math.log10(raw))
    step = next(m * k for m in (1, 2, 5, 10) if m * k >= raw)
    a, b = math.floor(lo / step) * step, math.ceil(hi / step) * step
    n = int(round((b - a) / step))
    return a, b, [round(a + i * step, 12) for i in range(n + 1)]


def log10_positive(x: Sequence[float], y: Sequence[float], log_y: bool) -> tuple[np.ndarray, np.ndarray]:
    """(log10 x, y or log10 y) over the points where the logs exist and the values are finite."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = (x > 0) & np.isfinite(y) & ((y > 0) if log_y else True)
    return np.log10(x[ok]), (np.log10(y[ok]) if log_y else y[ok])


class LogPlot(PlotextPlot):
    """A plot of one or more runs' curves; subclasses say what in `draw()`."""

    TITLE = ""
    LOG_Y = True  # the y axis's default scale (the loss plot toggles it)
    X_IS_STEP = False  # x counts steps (a step, or a lag): the axis ends at the run's length

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.runs: list[RunCurves] = []
        self.slots: list[int] = []
        self._drawn_key = None
        self._rendered = None
        self._rebuilt = False
        self._points: list[tuple[np.ndarray, np.ndarray]] = []
        self._labels = 0  # legend entries of the current frame
        self.drawn: list[tuple[int, str, str | None]] = []  # (run, marker, name) per curve of the frame
        self.curve_names: list[str] = []  # the names written at the curves' ends (NO_COLOR overlays)
        self.log_y = self.LOG_Y
        self.limits: tuple | None = None  # ((x0, x1), (y0, y1)) of the last frame, plot coordinates
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
                self.app.theme if self.is_attached else None, self.log_y)

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
        self._labels = 0
        self.drawn, self.curve_names = [], []
        self._switch_labels: list[tuple[float, str]] = []
        self.draw()
        if not self._points:
            plt.xticks([], [])
            plt.yticks([], [])
            plt.title(f"{self.TITLE}: no data yet")
            return
        xs = np.concatenate([p[0] for p in self._points])
        ys = np.concatenate([p[1] for p in self._points])
        width, height = max(self.size.width, 20), max(self.size.height, 6)
        x_end = self.x_end()
        (x0, x1), ticks, labels = decade_ticks(xs.min(), max(xs.max(), x_end or -math.inf), width // 7)
        if x_end is not None and x_end > xs.min():  # the axis ends where the run does, not at the next decade
            x1 = max(x_end, xs.max())
            ticks, labels = [k for k in ticks if k <= x1], [lab for k, lab in zip(ticks, labels) if k <= x1]
        plt.xlim(x0, x1)
        plt.xticks(ticks, labels)
        if self.log_y:
            (y0, y1), ticks, labels = decade_ticks(ys.min(), ys.max(), height // 2)
        else:
            y0, y1, ticks = nice_range(float(ys.min()), float(ys.max()), max(height // 3, 2))
            labels = [f"{t:g}" for t in ticks]
        # Room above the data for the legend (plotext draws it in the top-left corner, over the curves).
        rows = height - 4
        if self._labels and rows > self._labels + 1:
            y1 += (y1 - y0) * self._labels / (rows - self._labels)
        plt.ylim(y0, y1)
        plt.yticks(ticks, labels)
        self.limits = ((x0, x1), (y0, y1))
        for x, text in switch_label_layout(self._switch_labels, x0, x1, width - Y_LABELS):
            plt.text(text, x, y1, color=MARKER_COLOR, alignment="center")

    def x_end(self) -> float | None:
        """log10 of where the x axis ends when it is a step (the longest shown run), else None (data)."""
        if not self.X_IS_STEP:
            return None
        total = max((c.total_steps for c in self.runs), default=0)
        return math.log10(total) if total > 0 else None

    @property
    def no_color(self) -> bool:
        return self.is_attached and getattr(self.app, "no_color", False)

    def marker(self, slot: int) -> str:
        """Braille (the finest) in colour; without colour each slot's own marker."""
        return MARKERS[slot % len(MARKERS)] if self.no_color else "braille"

    def line(self, x, y, color, label: str | None = None, marker: str = "braille", run: int = 0,
             name: str | None = None) -> None:
        """Plot y against x (both already in plot coordinates) and remember the points for the axes.

        run: which of the shown runs the curve belongs to; name: the curve among that run's.  In an
        overlay without colour the runs' colours are all grey: run k is then drawn with its slot's
        marker, and its curves (one marker) are told apart by their names, written at their ends."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.size == 0:
            return
        if len(self.runs) > 1 and self.no_color:
            marker = self.marker(self.slots[run] if run < len(self.slots) else run)
            if name is not None:
                self.plt.text(name, float(x[-1]), float(y[-1]), alignment="right")
                self.curve_names.append(name)
        self.drawn.append((run, marker, name))
        self._points.append((x, y))
        self._labels += label is not None
        if x.size == 1:
            self.plt.scatter(x.tolist(), y.tolist(), color=color, label=label, marker=marker)
        else:
            self.plt.plot(x.tolist(), y.tolist(), color=color, label=label, marker=marker)

    def switch_lines(self) -> None:
        """A vertical line at each dynamics switch of the shown runs (x = log10 step), numbered in step
        order at the top of the plot (close switches keep their own numbers; help explains them)."""
        for c in self.runs:
            for n, s in enumerate(c.switches, 1):
                if s.step > 0:
                    self.plt.vline(math.log10(s.step), MARKER_COLOR)
                    self._switch_labels.append((math.log10(s.step), str(n)))

    def run_color(self, k: int) -> tuple[int, int, int]:
        """The colour of run k when overlaid (its slot's)."""
        return palette(self.slots[k] if k < len(self.slots) else k)

    def tag(self, k: int) -> str:
        """The legend's name for run k when overlaid: its slot, counted from 1."""
        return str((self.slots[k] if k < len(self.slots) else k) + 1)

    def draw(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


Y_LABELS = 8  # columns the y axis' tick labels and frame take from a plot's width (about)


def switch_label_layout(labels: list[tuple[float, str]], x0: float, x1: float, columns: int) -> list[tuple[float, str]]:
    """The switch numbers placed on a plot's top row so that none overlaps another (issue 31 item 14:
    three close switches on the log axis drew as "13").  labels: (x, number) in plot coordinates;
    x0..x1 spread over `columns` columns; each label is centred on its x.  Neighbours with no blank
    column between them become one label at their mean x, until none touches: "1-3" for a run of
    three or more consecutive numbers, else "1,2"."""
    if not labels or columns <= 0 or not x1 > x0:
        return list(labels)
    per = columns / (x1 - x0)

    def placed(group):
        centre, text = sum(x for x, _ in group) / len(group), _joined([t for _, t in group])
        return centre, text, centre * per - len(text) / 2, centre * per + len(text) / 2

    groups = [[label] for label in sorted(labels)]
    i = 0
    while i < len(groups) - 1:
        if placed(groups[i])[3] + 1 > placed(groups[i + 1])[2]:  # no blank column between them
            groups[i:i + 2] = [groups[i] + groups[i + 1]]
            i = max(i - 1, 0)  # the merged label is wider: it may now touch the one before
        else:
            i += 1
    return [placed(group)[:2] for group in groups]


def _joined(texts: list[str]) -> str:
    nums = [int(t) for t in texts if t.isdigit()]
    if len(nums) == len(texts) > 2 and nums == list(range(nums[0], nums[0] + len(nums))):
        return f"{nums[0]}-{nums[-1]}"
    return ",".join(texts)
