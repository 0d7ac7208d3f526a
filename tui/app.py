"""The glasslab lab console (Textual): the App alone (bindings, screens, CSS, app-wide messages).

    make_app(out_dir="runs", presets_dir=None, autostart=None).run()

is what `glasslab` (no arguments), `glasslab console` and `glasslab run PRESET`
open, and what the console tests drive with Pilot.  Everything else is in
tui/console/: the Textual workarounds in console/base.py (ConsoleApp), the quit
policy and the exit lines in console/quitting.py (QuittingApp, run_console).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen

from glasslab.core.config.presets import Preset

from .console import heap
from .console.commands import PresetsAndRuns
from .console.messages import (
    FollowRun,
    PresetChosen,
    PresetPicked,
    ResumeRun,
    RunPicked,
)
from .console.quitting import QuittingApp
from .console.screens.dialog import DismissOnTop
from .console.screens.dynamics_dialog import DynamicsDialog
from .console.screens.help_screen import HelpScreen
from .console.screens.live_screen import LiveScreen
from .console.screens.presets_screen import PresetsScreen
from .console.screens.runs_screen import RunsScreen
from .console.screens.start_dialog import StartDialog
from .console.screens.sweeps_screen import SweepsScreen

NAVIGATION = ("show",)
SCREENS = Binding.Group("Screens")


class GlasslabApp(QuittingApp):
    TITLE = "glasslab"
    CSS_PATH = Path(__file__).parent / "console" / "app.tcss"  # absolute: subclasses elsewhere still find it
    COMMANDS = App.COMMANDS | {PresetsAndRuns}
    BINDINGS = [
        # One footer entry for the three ("p l r Screens": room at 60 columns); help lists each.
        Binding("p", "show('presets')", "Presets", group=SCREENS),
        Binding("l", "show('live')", "Live", group=SCREENS),
        Binding("r", "show('runs')", "Runs", group=SCREENS),
        Binding("question_mark", "help", "Help"),
        Binding("h", "help", "Help", show=False),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        # ctrl+c too, as in any terminal program (Textual only says "press ctrl+q"); not a priority
        # binding, so that a text field keeps ctrl+c for copying.
        Binding("ctrl+c", "quit", "Quit", show=False),
    ]

    def __init__(self, out_dir: str | Path = "runs", presets_dir: str | Path | None = None,
                 autostart: Preset | None = None, data_dir: str | None = None, download: bool = False,
                 follow: str | Path | None = None) -> None:
        super().__init__(out_dir)
        self.follow = Path(follow) if follow is not None else None
        self.data_options = {"data_dir": data_dir, "download": download}
        self.presets_dir = Path(presets_dir) if presets_dir is not None else None
        self.autostart = autostart

    async def on_mount(self) -> None:
        self.install_screen(PresetsScreen(self.presets_dir), "presets")
        self.install_screen(LiveScreen(self.out_dir, **self.data_options), "live")
        self.install_screen(RunsScreen(self.out_dir), "runs")
        self.install_screen(SweepsScreen(), "sweeps")
        # Built once and kept: composing and styling the help afresh took 70-350 ms per `?`
        # (measured with the benchmark's frame clock), a reused screen opens in ~30 ms.
        self.install_screen(HelpScreen(self.key_groups()), "help")
        # Awaited: keys typed while the console starts wait in the queue until the browser is up,
        # with the focus on its list, instead of acting on the bare default screen beneath it.
        await self.push_screen("presets")
        self.set_timer(0.5, heap.settle)  # once the first screen is drawn (see console/heap.py)
        if self.autostart is not None:
            self.post_message(PresetChosen(self.autostart))
        elif self.follow is not None:
            self.post_message(FollowRun(self.follow))

    @property
    def live(self) -> LiveScreen:
        return self.get_screen("live")

    # -- navigation ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Under a dialog the screens below must not change.
        if action in NAVIGATION and (not self.screen_stack or isinstance(self.screen, ModalScreen)):
            return False
        return True

    async def action_show(self, name: str) -> Screen | None:
        """Switch to the browser `name`.  Asked for while a dialog is open (a switch that c, f or a
        palette pick posted, handled after the next key opened a dialog), it closes the dialog first,
        as escape would: switching from under it stacked a browser on a browser and left the
        palette's search running on its removed widgets.

        Returns the browser, or None when the console is closing: a switch posted just before the
        quit (a palette pick) is handled after the last screen has gone, and has nowhere to go.
        """
        while self.screen_stack and isinstance(self.screen, DismissOnTop) and self.screen.is_active:
            await self.screen.close()
        if not self.screen_stack:
            return None
        if self.screen is not self.get_screen(name):
            await self.switch_screen(name)
        return self.screen

    def action_help(self) -> None:
        if self.screen_stack and not isinstance(self.screen, HelpScreen):
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
        if not self.screen_stack or isinstance(self.screen, ModalScreen):  # closing; or run twice, or a dialog is up
            return
        await self._on("live", lambda live: live.action_dynamics())

    # -- app-wide messages ----------------------------------------------------------------
    async def _on(self, name: str, then) -> None:
        """Switch to the browser `name`, then `then(browser)`; nothing while the console is closing."""
        screen = await self.action_show(name)
        if screen is not None:
            then(screen)

    async def on_preset_chosen(self, message: PresetChosen) -> None:
        def start(live: LiveScreen) -> None:
            live.download = self.data_options["download"] or message.download  # ticked in the start dialog
            live.start(message.preset)

        await self._on("live", start)

    async def on_preset_picked(self, message: PresetPicked) -> None:
        await self._on("presets", lambda screen: screen.select(message.name))

    async def on_run_picked(self, message: RunPicked) -> None:
        await self._on("runs", lambda screen: screen.open(str(message.path)))

    async def on_resume_run(self, message: ResumeRun) -> None:
        await self._on("live", lambda live: live.resume(message.path))

    async def on_follow_run(self, message: FollowRun) -> None:
        await self._on("live", lambda live: live.follow(message.path))


def make_app(out_dir: str | Path = "runs", presets_dir: str | Path | None = None,
             autostart: Preset | None = None, data_dir: str | None = None, download: bool = False,
             follow: str | Path | None = None) -> GlasslabApp:
    """The one app factory, shared by the CLI, the tests and the benchmarks.

    presets_dir: list only the presets in that folder (default: ./presets and the shipped ones).
    autostart: a preset to start training at once (`glasslab run PRESET`).
    data_dir, download: where the data sets live, and whether a missing one may be downloaded.
    follow: a run's store to show live at once (`glasslab follow RUN`).
    """
    return GlasslabApp(out_dir=out_dir, presets_dir=presets_dir, autostart=autostart,
                       data_dir=data_dir, download=download, follow=follow)
