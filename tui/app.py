"""The glasslab lab console (Textual): bindings, screens and CSS; everything else is in tui/console/.

    make_app(out_dir="runs", presets_dir=None, autostart=None).run()

is what `glasslab` (no arguments), `glasslab console` and `glasslab run PRESET`
open, and what the console tests drive with Pilot.
"""

from __future__ import annotations


from pathlib import Path
from typing import Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Input

from glasslab.core.presets import Preset

from .console import heap, session
from .console.commands import PresetsAndRuns
from .console.messages import PresetChosen, PresetPicked, ResumeRun, RunEnded, RunPicked
from .console.screens.confirm_quit import ConfirmQuit
from .console.screens.dynamics_dialog import DynamicsDialog
from .console.screens.help_screen import HelpScreen
from .console.screens.live_screen import LiveScreen
from .console.screens.presets_screen import PresetsScreen
from .console.screens.runs_screen import RunsScreen
from .console.screens.start_dialog import StartDialog
from .console.screens.sweeps_screen import SweepsScreen

NAVIGATION = ("show",)


class GlasslabApp(App):
    TITLE = "glasslab"
    CSS_PATH = Path(__file__).parent / "console" / "app.tcss"  # absolute: subclasses elsewhere still find it
    COMMANDS = App.COMMANDS | {PresetsAndRuns}
    BINDINGS = [
        Binding("p", "show('presets')", "Presets"),
        Binding("l", "show('live')", "Live"),
        Binding("r", "show('runs')", "Runs"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, out_dir: str | Path = "runs", presets_dir: str | Path | None = None,
                 autostart: Preset | None = None, data_dir: str | None = None, download: bool = False) -> None:
        super().__init__()
        self.out_dir = Path(out_dir)
        self.data_options = {"data_dir": data_dir, "download": download}
        self.presets_dir = Path(presets_dir) if presets_dir is not None else None
        self.autostart = autostart
        self._quit_when_stopped = False

    def on_mount(self) -> None:
        self.install_screen(PresetsScreen(self.presets_dir), "presets")
        self.install_screen(LiveScreen(self.out_dir, **self.data_options), "live")
        self.install_screen(RunsScreen(self.out_dir), "runs")
        self.install_screen(SweepsScreen(), "sweeps")
        # Built once and kept: composing and styling the help afresh took 70-350 ms per `?`
        # (measured with the benchmark's frame clock), a reused screen opens in ~30 ms.
        self.install_screen(HelpScreen(self.key_groups()), "help")
        self.push_screen("presets")
        self.set_timer(0.5, heap.settle)  # once the first screen is drawn (see console/heap.py)
        if self.autostart is not None:
            self.post_message(PresetChosen(self.autostart))

    @property
    def live(self) -> LiveScreen:
        return self.get_screen("live")

    # -- navigation ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Under a dialog the screens below must not change.
        if action in NAVIGATION and isinstance(self.screen, ModalScreen):
            return False
        return True

    async def action_show(self, name: str) -> Screen:
        if self.screen is not self.get_screen(name):
            await self.switch_screen(name)
        return self.screen

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen("help")

    @classmethod
    def key_groups(cls) -> list[tuple[str, list]]:
        """Every binding, by where it works: the help screen lists these."""
        return [("Everywhere", cls.BINDINGS + [Binding("ctrl+p", "command_palette", "Command palette")]),
                ("Presets", PresetsScreen.BINDINGS + [Binding("enter", "start", "Start the highlighted preset")]),
                ("Start dialog", StartDialog.BINDINGS + [Binding("tab", "", "Next field")]),
                ("Live run", LiveScreen.BINDINGS),
                ("Dynamics dialog", DynamicsDialog.BINDINGS),
                ("Runs", RunsScreen.BINDINGS)]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Presets", "Browse the presets (p)", lambda: self.run_action("show('presets')"))
        yield SystemCommand("Live run", "The running training and its plots (l)", lambda: self.run_action("show('live')"))
        yield SystemCommand("Runs", "The stored runs, open and overlay them (r)", lambda: self.run_action("show('runs')"))
        yield SystemCommand("Sweeps", "The sweeps under ./sweeps: points, progress, ensembles", lambda: self.run_action("show('sweeps')"))
        yield SystemCommand("Stop the run", "Stop the training cleanly (x on the live screen)", self.live.action_stop)
        yield SystemCommand("Switch dynamics", "GD, SGD or Langevin for the running training (d)", self._switch_dynamics)
        yield SystemCommand("Help", "Every key (?)", self.action_help)

    async def _switch_dynamics(self) -> None:
        await self.action_show("live")
        self.live.action_dynamics()

    def on_key(self, event: events.Key) -> None:
        """Typeahead: a key that reached a widget before the focus moved goes to the new focus.

        Textual routes each key to the widget focused when the key arrives, so
        on a busy app `/quick` (or `s` then `300`) is routed before `/` (or `s`)
        has moved the focus.  Such keys bubble up here unhandled; an Input that
        has the focus now never lets its own keys bubble, so a printable key
        here while an Input has the focus was typed ahead for it.
        """
        if event.is_printable and isinstance(self.focused, Input):
            event.stop()
            self.focused.post_message(events.Key(event.key, event.character))

    # -- app-wide messages ----------------------------------------------------------------
    async def on_preset_chosen(self, message: PresetChosen) -> None:
        live = await self.action_show("live")
        live.start(message.preset)

    async def on_preset_picked(self, message: PresetPicked) -> None:
        screen = await self.action_show("presets")
        screen.select(message.name)

    async def on_run_picked(self, message: RunPicked) -> None:
        screen = await self.action_show("runs")
        screen.open(str(message.path))

    async def on_resume_run(self, message: ResumeRun) -> None:
        live = await self.action_show("live")
        live.resume(message.path)

    def on_run_ended(self, message: RunEnded) -> None:
        if self._quit_when_stopped:
            self.exit()

    # -- quitting ----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; while a run trains, ask once, then stop it cleanly and quit when its store is closed."""
        if self._quit_when_stopped:
            return  # already stopping: the run's end closes the app
        if not self.live.running:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes and self.live.running:
                self._quit_when_stopped = True
                self.live.stop("quit from the console")
            elif yes:
                self.exit()

        self.push_screen(ConfirmQuit(), answered)


def make_app(out_dir: str | Path = "runs", presets_dir: str | Path | None = None,
             autostart: Preset | None = None, data_dir: str | None = None, download: bool = False) -> GlasslabApp:
    """The one app factory, shared by the CLI, the tests and the benchmarks.

    presets_dir: list only the presets in that folder (default: ./presets and the shipped ones).
    autostart: a preset to start training at once (`glasslab run PRESET`).
    data_dir, download: where the data sets live, and whether a missing one may be downloaded.
    """
    session.prepare()  # the training process server, started before the app takes the terminal
    return GlasslabApp(out_dir=out_dir, presets_dir=presets_dir, autostart=autostart,
                       data_dir=data_dir, download=download)
