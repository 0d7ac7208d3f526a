"""LossPlot: train and test loss of the snapshots against t: log-log by default, `y` toggles a linear loss."""

from __future__ import annotations

from .log_plot import LogPlot, log10_positive, palette


class LossPlot(LogPlot):
    TITLE = "loss vs t"
    LOG_Y = True  # a late loss of 1e-4 must not sit flat on the bottom line
    X_IS_STEP = True

    def toggle_scale(self) -> None:
        self.log_y = not self.log_y
        self.update_curves()

    def draw(self) -> None:
        overlay = len(self.runs) > 1
        for k, c in enumerate(self.runs):
            tag = f"{self.tag(k)} " if overlay else ""
            train_color = self.run_color(k) if overlay else palette(0)
            test_color = self.run_color(k) if overlay else palette(1)
            self.line(*log10_positive(c.eval_steps, c.train_loss, self.log_y), train_color, f"{tag}train",
                      marker=self.marker(0), run=k, name=f"{tag}train" if overlay else None)
            self.line(*log10_positive(c.eval_steps, c.test_loss, self.log_y), test_color, f"{tag}test",
                      marker="dot" if overlay else self.marker(1), run=k, name=f"{tag}test" if overlay else None)
        if self._points:
            self.switch_lines()
        self.plt.title(f"{self.TITLE} ({'log' if self.log_y else 'linear'})")
