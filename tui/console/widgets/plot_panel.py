"""PlotPanel: the running loss and the three plots (loss, Delta, D) of one run or several overlaid."""

from __future__ import annotations

from typing import Iterable

from textual.app import ComposeResult
from textual.containers import Grid, Vertical

from ..curves import RunCurves
from .d_plot import DPlot
from .delta_plot import DeltaPlot
from .loss_plot import LossPlot
from .running_loss import RunningLoss


class PlotPanel(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs: list[RunCurves] = []

    def compose(self) -> ComposeResult:
        yield RunningLoss(id="running-loss")
        with Grid(classes="plot-grid"):
            yield LossPlot(id="loss-plot")
            yield DeltaPlot(id="delta-plot")
            yield DPlot(id="d-plot")

    def show(self, runs: Iterable[RunCurves], slots: list[int] | None = None) -> None:
        """Show these runs; slots[k] is run k's colour slot (default: its position)."""
        self.runs = list(runs)
        self.query_one(RunningLoss).show(self.runs[0] if self.runs else None)
        for plot in (self.query_one(LossPlot), self.query_one(DeltaPlot), self.query_one(DPlot)):
            plot.show(self.runs, slots)

    def toggle_loss_scale(self) -> None:
        """The loss plot between log and linear loss."""
        self.query_one(LossPlot).toggle_scale()

    @property
    def plot_cost(self) -> float:
        """Seconds the last redraw of all three plots took."""
        return sum(p.render_cost for p in (self.query_one(LossPlot), self.query_one(DeltaPlot), self.query_one(DPlot)))

    def update_curves(self, plots: bool = True) -> None:
        """Redraw whatever changed in the shown runs (cheap when nothing did).

        plots=False updates only the running loss: a plot costs tens of ms of
        Python (the GIL the training loop also needs), so a live run redraws
        them less often than the sparkline.
        """
        self.query_one(RunningLoss).show(self.runs[0] if self.runs else None)
        if plots:
            for plot in (self.query_one(LossPlot), self.query_one(DeltaPlot), self.query_one(DPlot)):
                plot.update_curves()
