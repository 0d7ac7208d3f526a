"""DeltaPlot: Delta(t_w, t_w + t) against the lag t, log-log, one curve per waiting time.

The legend is keyed by t_w.  A dynamics switch at step s is marked on every
curve that had started by then, at its lag t = s - t_w (the x axis is a lag,
so one vertical line could not mark it for all curves).
"""

from __future__ import annotations

import math

import numpy as np

from .log_plot import MARKER_COLOR, LogPlot, log10_positive, palette

OVERLAY_WAITING_TIMES = 3  # per run when runs are overlaid: the legend must stay short


class DeltaPlot(LogPlot):
    TITLE = "Delta(t_w, t_w+t) vs t"
    X_IS_STEP = True  # the lag t runs to the run's length at most: the axis ends there, not a decade on

    def draw(self) -> None:
        overlay = len(self.runs) > 1
        for k, c in enumerate(self.runs):
            shown = c.waiting_times(OVERLAY_WAITING_TIMES if overlay else 5)
            for slot, tw in shown:
                pts = c.delta[tw]
                x, y = log10_positive([t for t, _ in pts], [d for _, d in pts], True)
                color = self.run_color(k) if overlay else palette(slot)
                label = f"{self.tag(k)}:{tw}" if overlay else f"t_w={tw}"
                marker = ("braille", "dot", "+")[slot % 3] if overlay else self.marker(slot)
                self.line(x, y, color, label, marker=marker, run=k, name=label if overlay else None)
                self._mark_switches(c.switches, tw, x, y)

    def _mark_switches(self, switches, tw: int, x: np.ndarray, y: np.ndarray) -> None:
        for s in switches:
            if s.step <= tw or x.size < 2:
                continue
            lag = math.log10(s.step - tw)
            if x[0] <= lag <= x[-1]:
                self.plt.scatter([lag], [float(np.interp(lag, x, y))], color=MARKER_COLOR, marker="x")
