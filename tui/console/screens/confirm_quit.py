"""ConfirmQuit: asked once when quitting while a run trains; yes stops the run cleanly, then quits."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class ConfirmQuit(ModalScreen[bool]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("y,q,enter", "answer(True)", "Stop and quit", priority=True),
        Binding("n,escape", "answer(False)", "Keep training"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-quit"):
            yield Label("A run is training.", classes="dialog-title")
            yield Static("Quit stops it at the next step; the store keeps every snapshot so far "
                         "and is marked interrupted.")
            yield Static("y/q/enter stop and quit · n/esc keep training", classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
