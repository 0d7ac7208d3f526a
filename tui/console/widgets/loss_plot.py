"""LossPlot: train and test loss of the snapshots against t, log-x (linear loss)."""

from __future__ import annotations

from .log_plot import LogPlot, log10_positive, palette


class LossPlot(LogPlot):
    TITLE = "loss vs t"
    LOG_Y = False

    def draw(self) -> None:
        overlay = len(self.runs) > 1
        for k, c in enumerate(self.runs):
            tag = f"{self.tag(k)} " if overlay else ""
            train_color = self.run_color(k) if overlay else palette(0)
            test_color = self.run_color(k) if overlay else palette(1)
            self.line(*log10_positive(c.eval_steps, c.train_loss, False), train_color, f"{tag}train")
            self.line(*log10_positive(c.eval_steps, c.test_loss, False), test_color, f"{tag}test",
                      marker="dot" if overlay else "braille")
        if self._points:
            self.switch_lines()
