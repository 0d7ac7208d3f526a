"""ConfirmQuit: asked once when quitting while runs started here still train: leave them (the default) or stop them.

The runs are their own processes (core/runs/launch.py), so leaving them is the safe
answer and the default; an SSH drop, which asks nothing, leaves them too.
Dismissed with "leave", "stop", or None (esc: stay in the console).
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static

from .dialog import Dialog


class ConfirmQuit(Dialog[str | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("l,q,enter", "answer('leave')", "Leave them running", priority=True),
        Binding("s", "answer('stop')", "Stop them"),
        Binding("escape", "answer(None)", "Stay"),
        # ctrl+c asked; a second one quits, as in any terminal program, with the default answer.
        # A priority binding: the app's own ctrl+c does not reach past a modal dialog.
        Binding("ctrl+c", "answer('leave')", "Quit", show=False, priority=True),
    ]

    def __init__(self, runs: list[Path]) -> None:
        super().__init__()
        self.runs = list(runs)

    def compose(self) -> ComposeResult:
        n = len(self.runs)
        with Vertical(classes="dialog", id="confirm-quit"):
            yield Label(f"{n} run{'s' if n > 1 else ''} started here {'are' if n > 1 else 'is'} training.",
                        classes="dialog-title")
            yield Static("\n".join(p.name for p in self.runs[:5]) + ("\n..." if n > 5 else ""))
            yield Static("They run on after the console closes: follow them again with glasslab follow RUN. "
                         "Stopping keeps every snapshot so far; the stores are marked interrupted.")
            yield Static("l/q/enter/ctrl+c leave running · s stop them · esc stay", classes="dialog-hint")

    def action_answer(self, choice: str | None) -> None:
        self.dismiss(choice)
