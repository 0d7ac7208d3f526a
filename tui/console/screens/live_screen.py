"""LiveScreen: start, follow, steer and stop a run (one shown at a time; any number may train).

Every run is its own detached process (core/runs/launch.py); this screen follows one
through its store with a thread worker (console/session.py: one data path for
the runs it started and for any other) and steers it through the run's control
channel.  Every way the worker can end (finished, interrupted, diverged, stale,
bad input, a failed write) is handled in one place, `on_worker_state_changed`.
Leaving the screen or the console leaves the run training.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from glasslab.core.config.presets import Preset
from glasslab.core.errors import BadInput, GlasslabError
from glasslab.core.runs import launch
from glasslab.core.store import reader

from .. import heap
from ..curves import RunCurves
from ..messages import ResumeRun, RunEnded
from ..resumable import continue_step
from ..session import RunSession
from ..widgets.fitting_footer import FittingFooter
from ..widgets.plot_panel import PlotPanel
from ..widgets.status_line import StatusLine
from .dynamics_dialog import DynamicsDialog

DRAW_HZ = 4  # the screen drains the run's records, redraws the status line and the sparkline at most this often
# The plots cost tens of ms of Python each (plotext), on the cores and the GIL the
# training shares: they redraw at most once a second, and less often when slow, so
# that they take at most PLOT_SHARE of one core whatever the terminal size or machine.
PLOT_EVERY_S = 1.0
PLOT_SHARE = 0.05
IDLE_HINT = "No run yet: pick a preset (p), then s to start it."


class LiveScreen(Screen):
    CSS_PATH = "live_screen.tcss"
    BINDINGS = [
        Binding("x", "stop", "Stop", tooltip="Stop run"),
        Binding("d", "dynamics", "Dynamics"),
        Binding("c", "resume", "Continue", tooltip="Continue (a stale run)"),
        Binding("y", "loss_scale", "Log/lin", tooltip="Loss log/lin"),
    ]

    def __init__(self, out_dir: str | Path, data_dir: str | None = None, download: bool = False) -> None:
        super().__init__(name="live")
        self.out_dir = Path(out_dir)
        self.data_dir, self.download = data_dir, download
        self.session: RunSession | None = None
        self.curves: RunCurves | None = None
        self.worker: Worker | None = None
        self.started_here: dict[Path, object] = {}  # store -> process, for every run this console started
        self._plots_at = 0.0
        self._settled = False  # heap.settle() done for this run

    def compose(self) -> ComposeResult:
        yield StatusLine(IDLE_HINT, id="status-line")
        yield PlotPanel(id="plot-panel")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._tick = self.set_interval(1 / DRAW_HZ, self.drain, pause=True)

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    # -- starting and following ---------------------------------------------------
    def start(self, preset: Preset) -> bool:
        """Start training `preset` in a detached process and follow it; False (with a notice) if it cannot start.

        A run already shown goes on training (it is followed again from the runs screen).
        """
        try:
            store, process = launch.start(preset, self.out_dir, data_dir=self.data_dir, download=self.download)
        except GlasslabError as err:
            self.notify(str(err), title="The run cannot start", severity="error", timeout=10)
            return False
        self._leave_current()
        self.started_here[store] = process
        curves = RunCurves(preset.name, path=str(store), total_steps=preset.run.steps, dynamics=preset.to_dict()["dynamics"])
        self._launch(RunSession(store, process=process), curves)
        return True

    def follow(self, path: Path) -> bool:
        """Show the run in this store live, whatever started it (a finished one replays its records)."""
        path = Path(path)
        if self.session is not None and self.session.path == path and self.running:
            return True
        if not path.exists() and not (path.parent / (path.name + ".control")).exists():
            self.notify(f"{path} does not exist", severity="error")
            return False
        self._leave_current()
        curves = RunCurves(path.stem, path=str(path))
        curves.message = "reading the store ..."
        self._launch(RunSession(path, process=self.started_here.get(path)), curves)
        return True

    def resume(self, path: Path) -> bool:
        """Continue a stored run from its last snapshot, in its store (`glasslab resume`, detached), and follow it.

        Refused (False, with a notice) when the store cannot be read; the engine's own
        refusals (a live writer, a finished or diverged run) come back as the run's
        failure line, as for a new run.
        """
        path = Path(path)
        try:
            stored = reader.Trajectory.open(path)
            process = launch.resume(path, data_dir=self.data_dir, download=self.download)
        except (GlasslabError, KeyError, OSError, ValueError) as err:
            self.notify(f"{path} cannot be resumed: {err}", severity="error", timeout=8)
            return False
        self._leave_current()
        self.started_here[path] = process
        curves = RunCurves.from_store(stored)  # the follower adds what the resumed run commits
        at = continue_step(path)  # its last saved state: a stop saves one after the last snapshot
        curves.trim_after(at if at is not None else int(stored.steps[-1]) if stored.n_snapshots else 0)
        curves.status, curves.message = "starting", f"resuming from step {curves.step:,} ..."
        self._launch(RunSession(path, process=process, resume=True), curves)
        return True

    def _leave_current(self) -> None:
        if self.session is not None:
            self.session.detach()  # its worker ends within a poll; the run trains on

    def _launch(self, session: RunSession, curves: RunCurves) -> None:
        self.session = session
        self.display_curves(curves)
        self.worker = self._follow(session)
        self._settled = False
        self._tick.resume()

    @work(thread=True, exclusive=True, exit_on_error=False, group="following", name="following")
    def _follow(self, session: RunSession):
        # Only store reads happen here; the UI reads session.buffer from its own thread.
        return session.follow()

    def live_runs(self) -> list[Path]:
        """The runs this console started that are still training (asked about on quit)."""
        return [p for p, proc in self.started_here.items() if proc.poll() is None]

    def display_curves(self, curves: RunCurves) -> None:
        """Show these curves (a new run, or a prepared one in tests)."""
        self.curves = curves
        self.query_one(PlotPanel).show([curves])
        self.query_one(StatusLine).show(curves)

    # -- the coalesced redraw --------------------------------------------------
    def drain(self) -> None:
        """Fold the records that arrived since the last tick into the curves, then draw once."""
        if self.session is None or self.curves is None:
            return
        records = self.session.buffer.drain()
        if records and self.curves.message == "reading the store ...":
            self.curves.message = ""
        for r in records:
            self.curves.apply(r)
        for what, answer in self.session.answers():
            self.notify(f"{what}: {answer.line()}", severity="information" if answer.applied else "warning", timeout=4)
        if not self._settled and self.session.started:
            self._settled = True
            heap.settle()  # the run's screen is built and training: see console/heap.py
        if self.session.finishing and self.running and not self.curves.message:
            self.curves.message = "run ended: completing the two-time matrices in the store ..."
            records = records or [None]  # redraw the status line
        if records:
            self.query_one(StatusLine).show(self.curves)
        panel = self.query_one(PlotPanel)
        try:
            cost = panel.plot_cost
        except NoMatches:  # its plots are being mounted again (a continued run followed anew): the next tick draws
            return
        now = time.monotonic()
        plots = now - self._plots_at >= max(PLOT_EVERY_S, cost / PLOT_SHARE) or not self.running
        if plots:
            self._plots_at = now
        panel.update_curves(plots=plots)

    @work(thread=True, exclusive=True, exit_on_error=False, group="watching", name="watching")
    def _watch(self, session: RunSession):
        return session.wait_for_new_session()

    def _continued_elsewhere(self, event: Worker.StateChanged) -> bool:
        """The watcher saw the ended run continued by another process: follow it again (issue 31.6)."""
        if event.worker.name != "watching" or event.state != WorkerState.SUCCESS or not event.worker.result:
            return False
        if self.session is not None and self.curves is not None and not self.running:
            self.curves.message = "continued elsewhere: following it again ..."
            self.query_one(StatusLine).show(self.curves)
            self.worker = self._follow(self.session)
            self._tick.resume()
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the follower's end (good or bad) is handled."""
        if self._continued_elsewhere(event):
            return
        if event.worker is not self.worker or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._tick.pause()
        self.drain()
        c, session = self.curves, self.session
        if event.state == WorkerState.SUCCESS and session.stale:
            c.status = "stale"
            c.message = (f"the run's process (pid {session.pid}) is gone while its store says running: "
                         f"c continues it from its last snapshot (glasslab resume {session.path})")
            self.notify(c.message, title="Stale run", severity="warning", timeout=10)
        elif event.state == WorkerState.SUCCESS and event.worker.result is None:
            return  # no longer followed (another run is shown): it trains on
        elif event.state == WorkerState.SUCCESS:
            end = event.worker.result
            c.status = getattr(end, "status", c.status)
            c.message = ""
            at = continue_step(session.path) if c.status == "interrupted" else None
            then = f"; c on the runs screen continues it from step {at:,}" if at is not None else ""
            self.notify(f"{c.name} {c.status} at step {c.step:,} in {session.path}{then}",
                        severity="error" if c.status == "diverged" else "information")
            self._watch(session)  # another console (or glasslab resume) may continue it: follow it then
        else:  # ERROR, or CANCELLED (the app is closing)
            err = event.worker.error
            c.status = "failed" if c.status in ("starting", "running") else c.status
            # Known engine errors are one line the user can act on; anything else names its type.
            c.message = (str(err) if isinstance(err, GlasslabError) else
                         "the console closed" if err is None else f"{type(err).__name__}: {err}")
            self.notify(c.message, title="The run failed", severity="error", timeout=10)
        c.version += 1
        self.refresh_bindings()  # c (continue) appears for a stale run
        self.query_one(StatusLine).show(c)
        self.query_one(PlotPanel).update_curves()
        self.post_message(RunEnded(c.status, session.path))
        heap.settle()

    # -- steering ---------------------------------------------------------------
    def action_stop(self) -> None:
        if not self.running:
            self.notify("No run is training here.", severity="warning")
            return
        self.stop("stopped in the console")

    def stop(self, reason: str) -> None:
        """Ask the run to stop at its next step boundary; the store ends `interrupted`."""
        if self.session is not None and self.running:
            try:
                self.session.stop(reason)
            except GlasslabError as err:
                self.notify(str(err), severity="error", timeout=8)
                return
            self.notify("Stopping: every snapshot so far stays in the store.")

    def action_loss_scale(self) -> None:
        self.query_one(PlotPanel).toggle_loss_scale()

    def action_dynamics(self) -> None:
        if not self.running or self.session is None:
            self.notify("No run is training: start or follow one to switch its dynamics.", severity="warning")
            return
        self.app.push_screen(DynamicsDialog(self.curves.dynamics, self._switch, self.curves.preset_dynamics))

    def _switch(self, changes: dict) -> None:
        """Called by the dialog; BadInput goes back to it as a one-line error."""
        if self.session is None or not self.running:
            raise BadInput("the run has ended")
        new = self.session.switch_dynamics(**changes)
        self.notify(f"Dynamics -> {new.kind}: sent, the run applies it at its next step", timeout=3)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # c is for a stale run only: the footer shows it then, not beside a finished one.
        if action == "resume":
            return self.session is not None and self.session.stale
        return True

    def action_resume(self) -> None:
        if self.session is None or not self.session.stale:
            self.notify("c continues a stale run (its process gone): this one is not.", severity="warning")
            return
        self.post_message(ResumeRun(self.session.path))

    def on_unmount(self) -> None:
        # The console is going away: stop reading; the runs train on (they are their own processes).
        if self.session is not None:
            self.session.detach()
