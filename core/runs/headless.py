"""A headless run: its records into its store, steerable through its control folder, then completed.

One composition for every run that trains without the console:

- `glasslab run --no-ui` and `glasslab resume` (tui/cli/run.py), which add the printer as a sink;
- a detached run (`glasslab run --detach`, the console's start), which is that same process
  started in a session of its own (core/runs/launch.py);
- a sweep point's job (core/sweep/job.py), whose scheduler signals reach the job itself.

The sinks are always the Zarr writer first (core/store/writer.py), then the caller's own, then the
control channel (core/runs/control.py), so `glasslab stop`, `switch` and the console steer every
kind of run the same way.  After the end record the two-time matrices are completed under the
store's writer lock (core/store/completion.py).
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from glasslab.core.records import RunDiverged, RunInterrupted
from glasslab.core.runs.control import ControlChannel
from glasslab.core.store.completion import complete_store
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive

# A stop by one of these saves the resume state where it stops and exits 128 + the signal number
# (SIGHUP: the terminal went away; SIGUSR1/SIGUSR2: the usual preemption warnings of a scheduler,
# e.g. Slurm's --signal=USR2@120; SIGTERM: Slurm's own preemption and `scancel`).
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
                     if hasattr(signal, n))
EXIT_SIGNAL = {s.name: 128 + int(s) for s in STOP_SIGNALS}


def caught_signals() -> tuple[signal.Signals, ...]:
    """The STOP_SIGNALS this process catches: all of them, less SIGHUP when it is ignored already.
    `nohup glasslab run ... &` ignores SIGHUP so that the run outlives the login: replacing that
    SIG_IGN with a stop would end the run when the SSH session ends (issue 31.2).  The run then
    trains on; its output goes quiet if it still pointed at the terminal (tui/output.py)."""
    hup = getattr(signal, "SIGHUP", None)
    ignored = hup is not None and signal.getsignal(hup) == signal.SIG_IGN
    return tuple(s for s in STOP_SIGNALS if not (ignored and s == hup))


@contextlib.contextmanager
def stop_on_signals(run: Run):
    """SIGINT, SIGTERM, SIGHUP (unless ignored: nohup), SIGUSR1, SIGUSR2 stop the run at the next step
    boundary, which saves the resume state at that step (Run.stop), instead of killing it.  Main thread only."""
    def handler(signum, _frame):
        run.stop(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in caught_signals()}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@dataclass(frozen=True)
class Outcome:
    """How a headless run ended.

    end: the run's end record (RunFinished, RunInterrupted or RunDiverged);
    two_time: the snapshot count the completed two-time matrices cover (0 when not completed);
    two_time_s: the seconds the completion took; warning: why it was not completed, or ''."""

    end: object
    two_time: int
    two_time_s: float
    warning: str
    signal: str = ""  # a stop signal heard during the end-of-run pass

    @property
    def exit_code(self) -> int:
        """0 finished; 128 + N stopped by signal N (its state saved, or heard during the end-of-run
        pass); 1 diverged, out of memory, failed."""
        if isinstance(self.end, RunDiverged):
            return 1
        if isinstance(self.end, RunInterrupted):
            return EXIT_SIGNAL.get(self.end.reason, 1)
        return EXIT_SIGNAL.get(self.signal, 0)

    def problem(self, path: Path) -> str | None:
        """The one line for stderr when the run did not finish, or None."""
        end = self.end
        if isinstance(end, RunDiverged):
            return (f"diverged: {end.what} is not finite at step {end.step}; the snapshots before it are kept in "
                    f"{path}. Try a smaller learning rate (--set dynamics.lr=...).")
        if isinstance(end, RunInterrupted):
            if end.reason.startswith("out of memory"):
                return f"error: {end.reason}; the snapshots so far are kept in {path}"
            if end.reason in EXIT_SIGNAL:
                return (f"stopped by {end.reason} at step {end.step:,}, its state saved there; "
                        f"continue with: glasslab resume {path}")
        return None


def train(run: Run, path: str | Path, *, lock: Path | None = None, sinks=(), signals: bool = True) -> Outcome:
    """Drive `run` into the store at `path` and complete it; returns how it ended.

    lock: the store's writer lock when the caller already holds it (a resume); a new store
    takes it on creation.  sinks: the caller's own (a printer), fed after the writer, or a
    function of the writer that returns them (a printer that reports its committed count).
    signals: stop on the STOP_SIGNALS (a process's main thread; a sweep job's scheduler
    handles its own).  Raises RunFailed when the writer failed (disk full), after the run
    has stopped cleanly.
    """
    path = Path(path)
    channel = ControlChannel(path, run, completes=True)
    writer = TrajectoryWriter(path, lock=lock)
    if callable(sinks):
        sinks = sinks(writer)
    with stop_on_signals(run) if signals else contextlib.nullcontext():
        end = drive(run, [writer, *sinks, channel])
    t0 = time.perf_counter()
    heard: list[str] = []
    with heard_signals(heard) if signals else contextlib.nullcontext():
        n, warning = complete_store(path, stop=lambda: heard[0] if heard else None)
    channel.release()  # done with the store: `finishing` ends here, not when this process exits
    return Outcome(end, n, time.perf_counter() - t0, warning, heard[0] if heard else "")


@contextlib.contextmanager
def heard_signals(heard: list[str]):
    """During the end-of-run pass a stop signal is noted in `heard`: the pass gives up at its next strip
    with its lock released, and `glasslab analyze` completes it later.  Without this a SIGTERM there
    killed the process with the store's lock held (issue 31 item 13).  A signal ignored before (nohup's
    SIGHUP) stays ignored.  Main thread only."""
    def handler(signum, _frame):
        heard.append(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS if signal.getsignal(s) != signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
