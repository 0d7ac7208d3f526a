"""StartDialog: edit a few key fields of a preset, then start it.

The edits (steps, learning rate, batch size, temperature, device) become
`presets.with_overrides` overrides: the file is not touched, the values are
checked exactly like `--set`, and the run's stored preset records them.
Only the devices that exist here are offered.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from glasslab.core import presets
from glasslab.core.errors import BadInput
from glasslab.core.presets import Preset

# (override key, label, input type): the fields worth changing before a run.
FIELDS = (
    ("run.steps", "steps", "integer"),
    ("dynamics.lr", "learning rate", "number"),
    ("dynamics.batch_size", "batch size", "integer"),
    ("dynamics.temperature", "temperature T", "number"),
)


class StartDialog(ModalScreen[Preset | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("enter", "start", "Start", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, preset: Preset, devices: list[str]) -> None:
        super().__init__()
        self.preset = preset
        self.devices = devices if preset.run.device in devices else [*devices, preset.run.device]

    def compose(self) -> ComposeResult:
        p = self.preset
        with Vertical(classes="dialog", id="start-dialog"):
            yield Label(f"Start {p.name}", classes="dialog-title")
            for key, label, kind in FIELDS:
                section, name = key.split(".")
                value = getattr(getattr(p, section), name)
                yield Horizontal(Label(label, classes="field-label"),
                                 Input(f"{value:g}" if isinstance(value, float) else str(value),
                                       id=f"start-{name}", type=kind, compact=True, select_on_focus=True),
                                 classes="field")
            with Horizontal(classes="field"):
                yield Label("device", classes="field-label")
                with RadioSet(id="start-device", compact=True):
                    for d in self.devices:
                        yield RadioButton(d, value=d == p.run.device, id=f"device-{d}")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("tab next field · enter start · esc cancel", classes="dialog-hint")

    def edited(self) -> Preset:
        """The preset with the dialog's values (raises BadInput like --set would)."""
        over: dict = {}
        for key, label, kind in FIELDS:
            name = key.split(".")[1]
            text = self.query_one(f"#start-{name}", Input).value.strip()
            try:
                value = int(text) if kind == "integer" else float(text)
            except ValueError:
                raise BadInput(f"{label} must be {'an integer' if kind == 'integer' else 'a number'}, got {text!r}") from None
            section = key.split(".")[0]
            if value != getattr(getattr(self.preset, section), name):
                over[key] = value
        pressed = self.query_one(RadioSet).pressed_button
        if pressed is not None and pressed.id.removeprefix("device-") != self.preset.run.device:
            over["run.device"] = pressed.id.removeprefix("device-")
        return presets.with_overrides(self.preset, over) if over else self.preset

    def action_start(self) -> None:
        try:
            preset = self.edited()
        except BadInput as err:
            self.query_one("#dialog-error", Static).update(str(err))
            return
        self.dismiss(preset)

    def action_cancel(self) -> None:
        self.dismiss(None)
