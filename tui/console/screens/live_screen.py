"""LiveScreen: start, watch, steer and stop the run (at most one at a time).

The training runs in a child process whose records a thread worker relays (see
console/session.py for why a process and how records are coalesced); this
screen owns that worker.  Every way the
worker can end (finished, interrupted, diverged, bad input, a failed write)
is handled in one place, `on_worker_state_changed`.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from glasslab.core import presets, trajectory
from glasslab.core.errors import BadInput, GlasslabError
from glasslab.core.presets import Preset

from .. import heap
from ..curves import RunCurves
from ..messages import RunEnded
from ..resumable import continue_step
from ..session import LiveSession
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
        Binding("x", "stop", "Stop run"),
        Binding("d", "dynamics", "Dynamics"),
        Binding("y", "loss_scale", "Loss log/lin"),
    ]

    def __init__(self, out_dir: str | Path, data_dir: str | None = None, download: bool = False) -> None:
        super().__init__(name="live")
        self.out_dir = Path(out_dir)
        self.data_dir, self.download = data_dir, download
        self.session: LiveSession | None = None
        self.curves: RunCurves | None = None
        self.worker: Worker | None = None
        self._plots_at = 0.0
        self._settled = False  # heap.settle() done for this run

    def compose(self) -> ComposeResult:
        yield StatusLine(IDLE_HINT, id="status-line")
        yield PlotPanel(id="plot-panel")
        yield Footer()

    def on_mount(self) -> None:
        self._tick = self.set_interval(1 / DRAW_HZ, self.drain, pause=True)

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    # -- starting ------------------------------------------------------------
    def start(self, preset: Preset) -> bool:
        """Start training `preset`; refused (False) while another run is going."""
        if self.running:
            self.notify("A run is already training: stop it first (x).", severity="warning")
            return False
        self._launch(LiveSession(preset, self.out_dir, data_dir=self.data_dir, download=self.download),
                     RunCurves(preset.name, total_steps=preset.run.steps, dynamics=preset.to_dict()["dynamics"]))
        return True

    def resume(self, path: Path) -> bool:
        """Continue a stored run from its last snapshot, in its store (as `glasslab resume`).

        The plots start with what the store holds; the engine's records extend them.
        Refused (False, with a notice) while a run trains or when the store cannot be read;
        the engine's own refusals (a live writer, a finished or diverged run) come back as
        the run's failure line, as for a new run.
        """
        if self.running:
            self.notify("A run is already training: stop it first (x).", severity="warning")
            return False
        try:
            stored = trajectory.Trajectory.open(path)
            preset = presets.from_stored(stored.attrs["preset"])
            curves = RunCurves.from_store(stored)
        except (GlasslabError, KeyError, OSError, ValueError) as err:
            self.notify(f"{path} cannot be resumed: {err}", severity="error", timeout=8)
            return False
        curves.trim_after(int(stored.steps[-1]) if stored.n_snapshots else 0)  # the resumed run logs these again
        curves.status, curves.message = "starting", f"resuming from step {curves.step:,} ..."
        self._launch(LiveSession(preset, self.out_dir, data_dir=self.data_dir, download=self.download,
                                 resume=path), curves)
        return True

    def _launch(self, session: LiveSession, curves: RunCurves) -> None:
        self.session = session
        self.display_curves(curves)
        self.worker = self._train(session)
        self._settled = False
        self._tick.resume()

    @work(thread=True, exclusive=True, exit_on_error=False, group="training", name="training")
    def _train(self, session: LiveSession):
        # Only the engine runs here; the UI reads session.buffer from its own thread.
        return session.train()

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
        for r in records:
            self.curves.apply(r)
        if not self._settled and self.session.started:
            self._settled = True
            heap.settle()  # the run's screen is built and training: see console/heap.py
        if self.session.path is not None:
            self.curves.path = str(self.session.path)
        if self.session.finishing and not self.curves.message:
            self.curves.message = "run ended: completing the two-time matrices in the store ..."
            records = records or [None]  # redraw the status line
        if records or not self.curves.path:
            self.query_one(StatusLine).show(self.curves)
        panel = self.query_one(PlotPanel)
        now = time.monotonic()
        plots = now - self._plots_at >= max(PLOT_EVERY_S, panel.plot_cost / PLOT_SHARE) or not self.running
        if plots:
            self._plots_at = now
        panel.update_curves(plots=plots)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the training worker's end (good or bad) is handled."""
        if event.worker is not self.worker or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._tick.pause()
        self.drain()
        c = self.curves
        if event.state == WorkerState.SUCCESS:
            end = event.worker.result
            c.status = getattr(end, "status", c.status)
            c.message = self.session.note
            where = f" in {self.session.path}" if self.session.path else ""
            at = continue_step(self.session.path) if c.status == "interrupted" and self.session.path else None
            then = f"; c on the runs screen continues it from step {at:,}" if at is not None else ""
            self.notify(f"{c.name} {c.status} at step {c.step:,}{where}{then}",
                        severity="error" if c.status == "diverged" else "information")
        else:  # ERROR, or CANCELLED (the app is closing)
            err = event.worker.error
            c.status = "failed" if c.status in ("starting", "running") else c.status
            # Known engine errors are one line the user can act on; anything else names its type.
            c.message = (str(err) if isinstance(err, GlasslabError) else
                         "the console closed before the run ended" if err is None else f"{type(err).__name__}: {err}")
            self.notify(c.message, title="The run failed", severity="error", timeout=10)
        c.version += 1
        self.query_one(StatusLine).show(c)
        self.query_one(PlotPanel).update_curves()
        self.post_message(RunEnded(c.status, self.session.path))
        heap.settle()

    # -- steering --------------------------------------------------------------
    def action_stop(self) -> None:
        if not self.running:
            self.notify("No run is training.", severity="warning")
            return
        self.stop("stopped in the console")

    def stop(self, reason: str) -> None:
        """Ask the run to stop at its next step boundary; the store ends `interrupted`."""
        if self.session is not None and self.running:
            self.session.stop(reason)
            self.notify("Stopping: every snapshot so far stays in the store.")

    def action_loss_scale(self) -> None:
        self.query_one(PlotPanel).toggle_loss_scale()

    def action_dynamics(self) -> None:
        if not self.running or self.session is None:
            self.notify("No run is training: start one to switch its dynamics.", severity="warning")
            return
        self.app.push_screen(DynamicsDialog(self.curves.dynamics, self._switch, self.curves.preset_dynamics))

    def _switch(self, changes: dict) -> None:
        """Called by the dialog; BadInput goes back to it as a one-line error."""
        if self.session is None or not self.running:
            raise BadInput("the run has ended")
        new = self.session.switch_dynamics(**changes)
        self.notify(f"Dynamics -> {new.kind} at the next step", timeout=3)

    def on_unmount(self) -> None:
        # The app is going away: never leave the engine training with nobody watching.
        if self.session is not None:
            self.session.stop("console closed")
