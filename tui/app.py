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
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import ModalScreen, Screen
from textual.widgets import Input

from glasslab.core.config.presets import Preset
from glasslab.core.errors import GlasslabError
from glasslab.core.runs import control
from glasslab.core.runs.live import ENDED
from glasslab.core.store.reader import store_attrs

from .console import crash, heap, timers
from .console.commands import PresetsAndRuns
from .console.messages import (
    FollowRun,
    PresetChosen,
    PresetPicked,
    ResumeRun,
    RunPicked,
)
from .console.resumable import continue_step
from .console.screens.confirm_quit import ConfirmQuit
from .console.screens.dialog import DismissOnTop, Palette
from .console.screens.dynamics_dialog import DynamicsDialog
from .console.screens.help_screen import HelpScreen
from .console.screens.live_screen import LiveScreen
from .console.screens.presets_screen import PresetsScreen
from .console.screens.runs_screen import RunsScreen
from .console.screens.start_dialog import StartDialog
from .console.screens.sweeps_screen import SweepsScreen

NAVIGATION = ("show",)
SCREENS = Binding.Group("Screens")
timers.install()  # a toast for a just-expired notice froze the UI (see console/timers.py)


class GlasslabApp(App):
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
        super().__init__()
        self.follow = Path(follow) if follow is not None else None
        self.out_dir = Path(out_dir)
        self.data_options = {"data_dir": data_dir, "download": download}
        self.presets_dir = Path(presets_dir) if presets_dir is not None else None
        self.autostart = autostart
        self.exit_message: str | None = None  # what the exit printed about the runs (kept for tests)
        self._stopping: list[Path] = []  # runs asked to stop on quit; the console exits once they have
        self.exit_lines: list[str] = []  # printed on stderr once the terminal is given back (see run_console)

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

    def action_command_palette(self) -> None:
        # Textual's palette, but one whose late second dismiss cannot pop the screen beneath it
        # (console/screens/dialog.py).
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(Palette(id="--command-palette"))

    def pop_screen(self) -> AwaitComplete:
        """Pop the top dialog.  The browsers (presets, live, runs, sweeps) are switched, never popped:
        a pop that would remove one is a late dismiss of a dialog already closed, and is ignored
        (popping it left the bare default screen, and the next switch crashed)."""
        if self.screen_stack and not isinstance(self.screen, ModalScreen):
            self.log.warning(f"pop_screen ignored: {self.screen} is a browser, not a dialog")
            return AwaitComplete.nothing()
        return super().pop_screen()

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

    def _handle_exception(self, error: Exception) -> None:
        """Any unhandled exception: the traceback goes to a log file, the exit to one line and code 1."""
        if self._exception is not None:  # the first failure is the one to report; later ones follow from it
            super()._handle_exception(error)
            self._exit_renderables.clear()
            return
        try:
            log = crash.write_log(error, self.out_dir)
            line = crash.crash_line(error, log)
        except OSError as err:  # nowhere to write: the line says so, Textual's traceback stays
            line = f"glasslab: error: the console failed ({type(error).__name__}: {error}); no log: {err}"
            log = None
        super()._handle_exception(error)  # sets the exit code to 1, closes the app, keeps the error for Pilot
        if log is not None:
            self._exit_renderables.clear()  # the traceback is in the log: no screenful of it
        self.exit_lines.append(line)

    async def on_event(self, event: events.Event) -> None:
        # A key read before the first screen is up, or after the last has gone (typed while the
        # console starts or closes), has nothing to go to: Textual would raise ScreenStackError.
        if isinstance(event, events.Key) and not self.screen_stack:
            return
        await super().on_event(event)

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

    # -- quitting ----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; while runs started here train, ask once: leave them running (default) or stop them."""
        if self._stopping or not self.screen_stack or isinstance(self.screen, ConfirmQuit):
            return  # already stopping (the runs' ends close the app), or already asking
        running = self.live.live_runs()
        if not running:
            self._exit_saying()
            return

        def answered(choice: str | None) -> None:
            if choice == "leave":
                self._exit_saying()
            elif choice == "stop":
                self._stopping = running
                for path in running:
                    try:
                        control.send(path, "stop", reason="quit from the console")
                    except GlasslabError as err:
                        self.notify(str(err), severity="error")
                self.notify("Stopping the runs started here: the console closes once their stores are closed.")
                self.set_interval(0.1, self._exit_when_stopped)

        self.push_screen(ConfirmQuit(running), answered)

    def _exit_when_stopped(self) -> None:
        # Once each store says it ended: completing its two-time matrices may take minutes on a
        # big run, and the run's own process does that whether the console waits or not.
        running = self.live.live_runs()
        shown = self.live.session
        if shown is not None and shown.path in self._stopping and not shown.finishing and self.live.running:
            # The live screen has not read the run's end yet (and still reads): what it shows stays
            # whole.  Not "while its process lives": a small run completes its store and exits
            # before the follower's next read, and the console closed with the last snapshots unread.
            return
        if all(p not in running or (store_attrs(p) or {}).get("status") in ENDED for p in self._stopping):
            self.live.drain()
            self._exit_saying()

    def _exit_saying(self) -> None:
        """Exit; run_console then prints where the runs stopped here stand and which runs are left training."""
        lines = [stopped_line(p, (store_attrs(p) or {}).get("status", "?")) for p in self._stopping]
        lines += left_running(self.live, self._stopping)
        self.exit_lines += lines
        self.exit_message = "\n".join(lines) or None
        self.exit()


def left_running(live: LiveScreen, stopped: list[Path] = ()) -> list[str]:
    """The exit lines for the runs the console leaves training (they are their own processes);
    `stopped`: the runs it asked to stop, which may still be closing their stores but are not left."""
    from glasslab.core.runs.live import describe

    runs = [p for p in live.live_runs() if p not in stopped]
    shown = live.session.path if live.session is not None and live.running else None
    if shown is not None and shown not in runs and shown not in stopped:
        runs.append(shown)
    if not runs:
        return []
    return [left_running_line(p, describe(p).step) for p in runs] + [f"glasslab: list the live runs: glasslab ps {live.out_dir}"]


def left_running_line(path: Path, step: int | None = None) -> str:
    """The exit line for a run that outlives the console (a detached run): where to follow or stop it."""
    at = f" (at step {step:,})" if step is not None else ""
    return f"glasslab: {path} is still training{at}; follow it: glasslab follow {path}; stop it: glasslab stop {path}"


def stopped_line(path: Path, status: str) -> str:
    """What the console prints on exit for a run it ended by quitting: where it stopped, how to go on."""
    step = continue_step(path)
    if status == "interrupted":
        at = f" at step {step:,}" if step is not None else ""
        return f"glasslab: stopped {path}{at}; continue with: glasslab resume {path}"
    return f"glasslab: {path} {status}"


def run_console(app: GlasslabApp, **run_options) -> int:
    """Run the console; afterwards print a line per run it stopped and, if it failed, the line that
    names the log with the traceback.  Returns the exit code (0, or 1 after an unhandled exception)."""
    import sys

    app.run(**run_options)
    for line in app.exit_lines:
        print(line, file=sys.stderr, flush=True)
    return app.return_code or 0


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
