"""DynamicsDialog: switch the running training between GD, SGD and Langevin (with its temperature),
and how its minibatches are drawn.  The kinds, fields and choices are core/config/dynamics.py's.

The engine validates the change (core.train.run.Run.switch_dynamics raises BadInput
with one line); the error shows here and the dialog stays open.  The switch
acts at the next step boundary and is recorded as a DynamicsChanged record,
which the writer stores in the events and the plots show as a marker.
"""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, RadioSet, Static

from glasslab.core.config import dynamics
from glasslab.core.errors import BadInput

from ..widgets.choice import Choice
from .dialog import Dialog

class DynamicsDialog(Dialog[bool]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("enter", "apply", "Switch", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, current: dict, apply: Callable[[dict], object], preset: dict | None = None) -> None:
        super().__init__()
        self.current = dict(current)
        self.preset = dict(preset) if preset else dict(current)  # the run's preset dynamics
        self.apply = apply

    def compose(self) -> ComposeResult:
        cur = self.current
        kind = dynamics.kind_of(cur)
        with Vertical(classes="dialog", id="dynamics-dialog"):
            yield Label("Switch the dynamics of the running training", classes="dialog-title")
            with RadioSet(id="dynamics-kind", compact=True):
                for k in dynamics.KINDS:
                    yield Choice(dynamics.LABELS[k], value=k == kind, id=f"kind-{k}")
            for key, label in dynamics.DIALOG_FIELDS:
                yield _field(label, f"dyn-{key}", f"{dynamics.value(cur, key):g}")
            for key, label, options in dynamics.DIALOG_CHOICES:
                yield _choice(label, key, options, dynamics.value(cur, key))
            yield Static(f"{dynamics.LABELS.get(kind, kind)}: the run's present values", id="dyn-source",
                         classes="dialog-hint")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("arrows+space pick · tab next field · enter switch · esc cancel", classes="dialog-hint")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id != "dynamics-kind":
            return  # a choice of its own (the sampler): the other fields stay
        kind = self._kind()
        # The one rule of `glasslab switch` too: another kind takes the preset's values, the same kind the present ones.
        picked = dynamics.switch_values(self.preset, self.current, {"kind": kind})
        values = {k: picked.get(k, dynamics.value(self.current, k)) for k in self._keys()}
        choices = {key for key, _, _ in dynamics.DIALOG_CHOICES}
        for key, value in values.items():
            if key in choices:
                self.query_one(f"#{key}-{value}", Choice).value = True
            else:
                self.query_one(f"#dyn-{key}", Input).value = f"{float(value):g}"
        source = "the run's present values" if kind == dynamics.kind_of(self.current) else "the preset's values"
        self.query_one("#dyn-source", Static).update(f"{dynamics.LABELS[kind]}: {source}")

    @staticmethod
    def _keys() -> list[str]:
        return [k for k, _ in dynamics.DIALOG_FIELDS] + [k for k, _, _ in dynamics.DIALOG_CHOICES]

    def _chosen(self, key: str) -> str:
        pressed = self.query_one(f"#dyn-{key}", RadioSet).pressed_button
        return pressed.id.removeprefix(f"{key}-") if pressed is not None else str(dynamics.value(self.current, key))

    def _kind(self) -> str:
        pressed = self.query_one("#dynamics-kind", RadioSet).pressed_button
        return pressed.id.removeprefix("kind-") if pressed is not None else dynamics.kind_of(self.current)

    def changes(self) -> dict:
        """The dialog's values as switch_dynamics keywords (raises BadInput on a non-number)."""
        out = {"kind": self._kind()}
        for key, _ in dynamics.DIALOG_FIELDS:
            text = self.query_one(f"#dyn-{key}", Input).value.strip()
            try:
                out[key] = float(text)
            except ValueError:
                raise BadInput(f"{key} must be a number, got {text!r}") from None
        for key, _, _ in dynamics.DIALOG_CHOICES:
            out[key] = self._chosen(key)
        return out

    def action_apply(self) -> None:
        self.after_typing(self._apply)  # read the fields once they have the keys typed before enter

    def _apply(self) -> None:
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


def _choice(label: str, key: str, options: dict[str, str], chosen) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"),
                      RadioSet(*(Choice(text, value=v == chosen, id=f"{key}-{v}") for v, text in options.items()),
                               id=f"dyn-{key}", compact=True),
                      classes="field")
