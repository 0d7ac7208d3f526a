"""DynamicsDialog: switch the running training between GD, SGD and Langevin (with its temperature).

The engine validates the change (core.run.Run.switch_dynamics raises BadInput
with one line); the error shows here and the dialog stays open.  The switch
acts at the next step boundary and is recorded as a DynamicsChanged record,
which the writer stores in the events and the plots show as a marker.
"""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from glasslab.core.errors import BadInput

KINDS = ("gd", "sgd", "langevin")
KIND_LABELS = {"gd": "GD", "sgd": "SGD", "langevin": "Langevin"}


class DynamicsDialog(ModalScreen[bool]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("enter", "apply", "Switch", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, current: dict, apply: Callable[[dict], object]) -> None:
        super().__init__()
        self.current = dict(current)
        self.apply = apply

    def compose(self) -> ComposeResult:
        cur = self.current
        kind = cur.get("kind", "sgd")
        with Vertical(classes="dialog", id="dynamics-dialog"):
            yield Label("Switch the dynamics of the running training", classes="dialog-title")
            with RadioSet(id="dynamics-kind", compact=True):
                for k in KINDS:
                    yield RadioButton(KIND_LABELS[k], value=k == kind, id=f"kind-{k}")
            yield _field("learning rate", "dyn-lr", f"{cur.get('lr', 0.1):g}")
            yield _field("temperature T", "dyn-temperature", f"{cur.get('temperature', 0.0):g}")
            yield _field("momentum", "dyn-momentum", f"{cur.get('momentum', 0.0):g}")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("arrows+space pick · tab next field · enter switch · esc cancel", classes="dialog-hint")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        # Langevin dynamics is overdamped: the engine refuses momentum with it.
        if self._kind() == "langevin":
            self.query_one("#dyn-momentum", Input).value = "0"

    def _kind(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return pressed.id.removeprefix("kind-") if pressed is not None else self.current.get("kind", "sgd")

    def changes(self) -> dict:
        """The dialog's values as switch_dynamics keywords (raises BadInput on a non-number)."""
        out = {"kind": self._kind()}
        for key in ("lr", "temperature", "momentum"):
            text = self.query_one(f"#dyn-{key}", Input).value.strip()
            try:
                out[key] = float(text)
            except ValueError:
                raise BadInput(f"{key} must be a number, got {text!r}") from None
        return out

    def action_apply(self) -> None:
        try:
            self.apply(self.changes())
        except BadInput as err:
            self.query_one("#dialog-error", Static).update(str(err))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def _field(label: str, id: str, value: str) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"),
                      Input(value, id=id, type="number", compact=True, select_on_focus=True),
                      classes="field")
