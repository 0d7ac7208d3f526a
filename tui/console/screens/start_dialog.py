"""StartDialog: edit a few key fields of a preset, then start it.

The edits (steps, learning rate, batch size, temperature, device) become
`presets.with_overrides` overrides: the file is not touched, the values are
checked exactly like `--set`, and the run's stored preset records them.
Only the devices that exist here are offered.
"""

from __future__ import annotations

import socket

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, RadioSet, Static

from glasslab.core.config import presets
from glasslab.core.config.presets import Preset
from glasslab.core.errors import BadInput
from glasslab.core.system import data as datasets

from ..widgets.choice import Choice
from .dialog import Dialog

# Where torchvision fetches each data set from: a TCP connection to it says whether a download can work.
DOWNLOAD_HOSTS = {"mnist": "ossci-datasets.s3.amazonaws.com", "fashion-mnist": "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
                  "cifar10": "www.cs.toronto.edu", "cifar100": "www.cs.toronto.edu"}


def reachable(host: str, timeout: float = 2.0) -> bool:
    """Whether a TCP connection to host:443 opens within `timeout` seconds (no data is sent)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


class StartChoice:
    """What the dialog returns: the edited preset and whether its missing data may be downloaded."""

    def __init__(self, preset: Preset, download: bool) -> None:
        self.preset, self.download = preset, download

# (override key, label, input type): the fields worth changing before a run.
FIELDS = (
    ("run.steps", "steps", "integer"),
    ("dynamics.lr", "learning rate", "number"),
    ("dynamics.batch_size", "batch size", "integer"),
    ("dynamics.temperature", "temperature T", "number"),
)


class StartDialog(Dialog[StartChoice | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("enter", "start", "Start", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, preset: Preset, devices: list[str], data_dir: str | None = None) -> None:
        super().__init__()
        self.preset = preset
        self.devices = devices if preset.run.device in devices else [*devices, preset.run.device]
        self.data_dir = data_dir  # the console's --data-dir
        self.data_ok, self.data_fix = datasets.availability(preset.data, data_dir)

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
                        yield Choice(d, value=d == p.run.device, id=f"device-{d}")
            if not self.data_ok:  # say so now, not 10 s into the run; offer both fixes
                yield Static(f"data {p.data.name} is missing here ({self.data_fix})", id="start-data-missing",
                             classes="dialog-error")
                yield Horizontal(Label("data directory", classes="field-label"),
                                 Input(self.data_dir or p.data.data_dir or str(datasets.data_dir(p.data, None)),
                                       id="start-data-dir", compact=True, select_on_focus=True),
                                 classes="field")
                yield Checkbox("download it (checking the network ...)", id="start-download", disabled=True,
                               compact=True)
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("tab next field · enter start · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        if not self.data_ok:
            self._check_network(DOWNLOAD_HOSTS.get(self.preset.data.name, ""))

    @work(thread=True, exclusive=True, exit_on_error=False, group="network")
    def _check_network(self, host: str) -> None:
        ok = bool(host) and reachable(host)
        self.app.call_from_thread(self._network_checked, host, ok)

    def _network_checked(self, host: str, ok: bool) -> None:
        box = self.query_one("#start-download", Checkbox)
        box.disabled = not ok
        box.label = f"download it from {host}" if ok else f"download it (no network: {host or 'no source'} unreachable)"

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
        if not self.data_ok:
            folder = self.query_one("#start-data-dir", Input).value.strip()
            if folder and folder != self.preset.data.data_dir:
                over["data.data_dir"] = folder
        return presets.with_overrides(self.preset, over) if over else self.preset

    @property
    def download(self) -> bool:
        return not self.data_ok and self.query_one("#start-download", Checkbox).value

    def action_start(self) -> None:
        self.after_typing(self._start)  # read the fields once they have the keys typed before enter

    def _start(self) -> None:
        try:
            preset = self.edited()
        except BadInput as err:
            self.query_one("#dialog-error", Static).update(str(err))
            return
        if not self.data_ok and not self.download and not datasets.availability(preset.data)[0]:
            self.query_one("#dialog-error", Static).update(
                f"{preset.data.name} is not in {datasets.data_dir(preset.data, None)} either: "
                "give the folder that has it, or tick download")
            return
        self.dismiss(StartChoice(preset, self.download))

    def action_cancel(self) -> None:
        self.dismiss(None)
