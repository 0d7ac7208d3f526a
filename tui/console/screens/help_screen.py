"""HelpScreen (`?`): every key of the console, read from the bindings themselves so it cannot go stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from .dialog import Dialog


def _key_text(binding: Binding) -> str:
    names = {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc", "enter": "enter"}
    return "/".join(names.get(k.strip(), k.strip()) for k in binding.key.split(","))


def bindings_table(groups: list[tuple[str, list]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for title, bindings in groups:
        table.add_row(Text(title, style="bold underline"), "")
        for b in bindings:
            b = b if isinstance(b, Binding) else Binding(*b)
            if b.description:  # the footer's label is short; the tooltip, when given, says it whole
                table.add_row(_key_text(b), b.tooltip or b.description)
        table.add_row("", "")
    return table


# What the plots show, a sentence or two each (docs/science.md has the definitions and the papers).
PLOT_TERMS = (
    ("loss vs t", "Train and test loss at the snapshots against the step t, log-log (y: a linear loss)."),
    ("Delta(t_w, t_w+t)", "Mean squared distance the weights move from the waiting time t_w to t_w + t, one "
     "curve per t_w (the legend).  Curves that shift right as t_w grows: the run ages."),
    ("D vs t", "The noise strength D: the variance of the per-sample loss gradients around their mean "
     "([BJ18]).  Where Delta/D(t_w) brings the t_w curves together the motion is diffusion, not aging."),
    ("| 1, x", "A dynamics switch (d): a line numbered in step order on the loss and D plots, and an x on "
     "each Delta curve at the lag t = switch step - t_w."),
)


def plots_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(Text("The plots", style="bold underline"), "")
    for term, text in PLOT_TERMS:
        table.add_row(term, text)
    table.add_row("", "")
    return table


class HelpScreen(Dialog[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,question_mark,h,q", "close", "Close", priority=True)]

    def __init__(self, groups: list[tuple[str, list]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Static("glasslab console: keys", classes="dialog-title")
            yield Static(plots_table(), id="help-plots")
            yield Static(bindings_table(self.groups), id="help-keys")
            yield Static("ctrl+p opens the command palette: presets, runs and actions by name. "
                         "esc/?/q closes this help.", classes="dialog-hint")
            yield Static("What every number means (observables, fits, verdicts): science.md, shipped with "
                         "glasslab (glasslab analyze prints where)",
                         classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
