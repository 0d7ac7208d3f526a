"""RunningLoss: the running minibatch loss as a sparkline, with its latest value."""

from __future__ import annotations

from statistics import fmean

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

from ..curves import RunCurves

HISTORY = 400  # recent StepLogged values drawn; the sparkline averages them into its width


class RunningLoss(Horizontal):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown = None

    def compose(self) -> ComposeResult:
        yield Static("loss", id="running-loss-value")
        yield Sparkline([], summary_function=fmean, id="running-loss-sparkline")

    def show(self, curves: RunCurves | None) -> None:
        key = (id(curves), len(curves.loss_values)) if curves else None
        if key == self._shown:
            return
        self._shown = key
        values = curves.loss_values[-HISTORY:] if curves else []
        self.query_one(Sparkline).data = values
        text = f"loss {values[-1]:.4g}" if values else "loss -"
        self.query_one("#running-loss-value", Static).update(text)
