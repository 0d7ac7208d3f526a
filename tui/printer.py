"""The headless sink: a Rich progress bar on a terminal, plain periodic lines otherwise,
and a summary table at the end of the run."""

from __future__ import annotations

import math
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from glasslab.core.config import dynamics
from glasslab.core.records import (
    RESUME_SOURCES,
    DynamicsChanged,
    RunDiverged,
    RunInterrupted,
    RunStarted,
    SnapshotTaken,
    StepLogged,
    is_end,
)

from .numbers import device_text, duration, gib


class HeadlessPrinter:
    """Consumes run records; draws progress and prints the final summary."""

    def __init__(self, store_path=None, *, console: Console | None = None, plain: bool | None = None,
                 every_s: float = 10.0, committed=None):
        """committed: a callable giving the store's committed snapshot count (the writer's); after a
        write failure the summary reports it, not the snapshots the run took."""
        self.console = console or Console()
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.store_path, self.every_s, self.committed = store_path, every_s, committed
        self.started: RunStarted | None = None
        self.last_eval = None
        self.snapshots = 0
        self.loss = math.nan
        self.rate = math.nan
        self.eta_s = math.nan
        self.gpu_memory: int | None = None  # bytes the run's tensors hold on its GPU (None off CUDA)
        self.step = 0
        self._progress: Progress | None = None
        self._task = None
        self._last_print = 0.0

    # -- sink --------------------------------------------------------------
    def handle(self, r) -> None:
        if isinstance(r, RunStarted):
            self._start(r)
        elif isinstance(r, StepLogged):
            self.step, self.loss, self.rate, self.eta_s = r.step, r.loss, r.steps_per_s, r.eta_s
            self.gpu_memory = r.gpu_memory_bytes
            self._progress_update()
        elif isinstance(r, SnapshotTaken):
            self.snapshots += 1
            self.last_eval = r.evaluation
            self.step = r.step
        elif isinstance(r, DynamicsChanged):
            self._say(f"step {r.step}: dynamics {dynamics.describe_switch(r.old, r.new)}")
        elif is_end(r):
            self._end(r)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- drawing -------------------------------------------------------------
    def _start(self, r: RunStarted) -> None:
        self.started, self.step = r, r.start_step
        self._say(f"{r.name}: N = {r.n_params:,} parameters, P = {r.train_size:,} training samples, "
                  f"device {device_text(r.device, r.gpu)}" + (f", {r.threads} thread{'s' if r.threads != 1 else ''}" if r.threads else "")
                  + f", {len(r.snapshot_steps)} snapshots"
                  + (f", store {self.store_path}" if self.store_path else ""))
        if not self.plain:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.completed:>,}/{task.total:,}"),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} steps/s"),
                TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                console=self.console, transient=False)
            self._task = self._progress.add_task(r.name, total=r.total_steps, completed=r.start_step,
                                                 loss="?", rate="?", eta="?")
            self._progress.start()

    def _progress_update(self) -> None:
        total = self.started.total_steps if self.started else 0
        if self._progress is not None:
            self._progress.update(self._task, completed=self.step, loss=f"{self.loss:.4g}", rate=f"{self.rate:,.0f}",
                                  eta=duration(self.eta_s))
            return
        now = time.perf_counter()
        if now - self._last_print >= self.every_s or self.step >= total:
            self._last_print = now
            # the run's own estimate (core.train.run.RemainingTime: steps and the log-spaced snapshots apart)
            gpu = f" gpu {gib(self.gpu_memory)}" if self.gpu_memory is not None else ""
            print(f"step {self.step}/{total} loss {self.loss:.4g} {self.rate:,.0f} steps/s ETA {duration(self.eta_s)}{gpu}",
                  file=self.console.file, flush=True)

    def _say(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.console.file, flush=True)

    def _end(self, r) -> None:
        self.close()
        ev = self.last_eval
        table = Table(title=f"{self.started.name if self.started else 'run'}: {r.status}", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("steps", f"{r.step:,}")
        point = self.started.resumed_from if self.started is not None else {}
        if point:
            table.add_row("resumed at", f"step {point['step']:,} ({RESUME_SOURCES.get(point['source'], point['source'])})")
        if ev is not None:
            table.add_row("train loss / acc", f"{ev.train_loss:.4g} / {ev.train_acc:.3f}")
            table.add_row("test loss / acc", f"{ev.test_loss:.4g} / {ev.test_acc:.3f}")
            if math.isfinite(ev.n_delta):  # hinge losses only ([SG19])
                p = self.started.train_size if self.started else 0
                table.add_row("N_Delta (y f < 1)", f"{int(ev.n_delta):,}" + (f" = {ev.n_delta / p:.3g} P" if p else ""))
        r0 = self.started
        before = sum(1 for t in r0.snapshot_steps if t <= r0.start_step) if r0 is not None and r0.resumed else 0
        written = self.snapshots
        if isinstance(r, RunInterrupted) and r.reason == "write failed" and self.committed is not None:
            # The writer has failed for good by now (the run stops only after it says so): its count is final.
            written = self.committed() - before
        table.add_row("snapshots written",
                      f"{written} (resumed after {before}: {before + written} in the store now)" if before else str(written))
        if self.store_path:
            table.add_row("store", str(self.store_path))
        table.add_row("wall time", f"{r.wall_s:.1f} s")
        if isinstance(r, RunDiverged):
            table.add_row("diverged", f"{r.what} not finite at step {r.step}: lower dynamics.lr")
        if isinstance(r, RunInterrupted):
            table.add_row("interrupted", r.reason)
        self.console.print(table)


def stderr_line(text: str) -> None:
    print(f"glasslab: {text}", file=sys.stderr, flush=True)
