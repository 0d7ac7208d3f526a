"""DPlot: the noise strength D(t) of the snapshots, log-log."""

from __future__ import annotations

from .log_plot import LogPlot, log10_positive, palette


class DPlot(LogPlot):
    TITLE = "D vs t"
    X_IS_STEP = True

    def draw(self) -> None:
        overlay = len(self.runs) > 1
        for k, c in enumerate(self.runs):
            self.line(*log10_positive(c.d_steps, c.d_values, True),
                      self.run_color(k) if overlay else palette(0), self.tag(k) if overlay else None, run=k)
        if self._points:
            self.switch_lines()
