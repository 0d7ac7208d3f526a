"""The live run behind the console: the engine in a child process, its records relayed to the UI.

Child process, not a thread in the console's process: measured on the 2-core
machine (benchmarks/console.py, BENCHMARKS.md), the engine on a thread beside
Textual reached 0.76 of headless steps/s (a thread alone already trains ~12%
slower than the main thread here, and the console's Python drawing competes
with the loop's Python for the GIL), and a key press waited behind the
training's GIL holds (p95 ~300 ms).  In a child the engine runs exactly as
`glasslab run --no-ui` does: on its process's main thread, with the same sinks
(the Zarr writer, in the child) and the same end (completing the two-time
matrices); the console only receives the records.  Costs: a process start
(a forkserver, started once, keeps it to a fork after the first run) and
pickling the records, which are small (snapshot weights and resume state stay
in the child; the writer releases them there).  The child leaves one core to
the console (see console_threads).

Layout:  UI thread <- RecordBuffer <- relay thread (the screen's @work worker)
<- records pipe <- child: core.run.drive(run, [TrajectoryWriter, PipeSink]).
Control goes the other way on its own pipe: stop, switch the dynamics; the
child applies them with the engine's thread-safe Run.stop/Run.switch_dynamics.

Coalescing: `RecordBuffer.handle` (relay thread) only appends the record to a
list under a lock; the screen drains the list from a timer on the UI thread
(4 Hz) and draws once per drain.  The draw rate is therefore bounded however
fast records arrive, and the message queue is never flooded.

The child stops the run cleanly (store `interrupted`, every snapshot kept) on
a stop message, on SIGINT/SIGTERM/SIGHUP, and when the console goes away
(its end of the control pipe closes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path

from glasslab.core import presets, trajectory
from glasslab.core.errors import BadInput, GlasslabError, RunFailed
from glasslab.core.presets import DynamicsConfig, Preset
from glasslab.core.records import DynamicsChanged, RunStarted, SnapshotTaken, StateSaved

# torch intra-op threads in the child.  None: torch's default less one core, at least one
# (see console_threads).  The tests set 1.
TORCH_THREADS: int | None = None


def console_threads(default: int, cpus: int | None) -> int:
    """Intra-op threads for a run under the console: one core is left to the console itself.

    With torch's two threads on a 2-core machine the console's ~10% of a core
    stalled every parallel region (0.79 of headless steps/s) and a key waited
    up to 0.6 s for a core; the quickstart trains as fast on one thread as on
    two (760-777 vs 712-788 steps/s, measured here), so the spare core costs it
    nothing.  Big models on two cores do lose their second thread in the console.
    """
    return max(1, min(default, (cpus or 2) - 1))


def for_the_console(record):
    """The record without what only the writer needs (the host copy of the weights, the resume state)."""
    if isinstance(record, SnapshotTaken):
        return dataclasses.replace(record, weights=None, state={})
    if isinstance(record, StateSaved):  # a stop's or checkpoint's resume state (w included)
        return dataclasses.replace(record, state={})
    return record


class RecordBuffer:
    """Records kept until the UI thread drains them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list = []

    def handle(self, record) -> None:
        record = for_the_console(record)
        with self._lock:
            self._records.append(record)

    def drain(self) -> list:
        with self._lock:
            out, self._records = self._records, []
        return out


def _context():
    """forkserver where there is one: forking the console itself (Textual's threads) is unsafe,
    and a fresh interpreter per run would import torch each time."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, "glasslab.core.run", "glasslab.core.writer"])  # torch is imported once, there
        return ctx
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _real_stderr():
    """multiprocessing hands sys.stderr's file descriptor to its helper processes; inside the app
    Textual has replaced sys.stderr with a capture that has none (fileno -1)."""
    try:
        ok = sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        ok = False
    if ok or sys.__stderr__ is None:
        yield
        return
    captured, sys.stderr = sys.stderr, sys.__stderr__
    try:
        yield
    finally:
        sys.stderr = captured


def prepare() -> None:
    """Start the process server now (before the app takes the terminal): the first run then
    starts with a fork instead of waiting for an interpreter to import torch."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with _real_stderr():
            forkserver.ensure_running()


class LiveSession:
    """One run started from the console: train it in a child process, relay its records, steer it."""

    def __init__(self, preset: Preset, out_dir: str | Path, *, data_dir: str | None = None,
                 download: bool = False, resume: str | Path | None = None) -> None:
        """resume: continue this stored run (interrupted or killed) in its own store, exactly as
        `glasslab resume` does; `preset` is then the one stored in it."""
        self.preset = preset
        self.out_dir = Path(out_dir)
        self.resume = Path(resume) if resume is not None else None
        self.data_dir, self.download = data_dir, download
        self.buffer = RecordBuffer()
        self.path: Path | None = None
        self.started = False  # RunStarted has arrived: the engine trains
        self.finishing = False  # the run has ended; the store is being completed
        self.note = ""  # a warning for the user once it is all done
        self.dynamics: DynamicsConfig = preset.dynamics
        self._lock = threading.Lock()
        self._control = None  # our end of the control pipe, once the child runs
        self._stop_reason: str | None = None

    # -- the relay (the screen's worker thread) ------------------------------------
    def train(self):
        """Start the child, relay its records until the run has ended and its store is complete.

        Returns the end record; raises the engine's BadInput (data missing, bad
        device, unwritable output directory) or RunFailed (disk full, the child
        died), which the screen reports.
        """
        ctx = _context()
        records, child_records = ctx.Pipe(duplex=False)
        child_control, control = ctx.Pipe(duplex=False)
        child = ctx.Process(target=run_in_child, name="glasslab-training", daemon=False,
                            args=(self.preset, str(self.out_dir), self.data_dir, self.download, TORCH_THREADS,
                                  child_records, child_control, self.resume and str(self.resume)))
        with _real_stderr():
            child.start()
        child_records.close()
        child_control.close()
        with self._lock:
            self._control = control
            reason = self._stop_reason
        if reason is not None:  # stopped while the child was starting
            self._send(("stop", reason))
        try:
            return self._relay(records, child)
        finally:
            self.stop("console relay ended")  # a no-op once the run has ended
            child.join(timeout=60)
            records.close()

    def _relay(self, records, child):
        while True:
            try:
                kind, *payload = records.recv()
            except (EOFError, OSError):
                child.join(timeout=10)
                raise RunFailed(f"the training process ended unexpectedly (exit code {child.exitcode}); "
                                f"the snapshots committed so far are kept in {self.path or 'its store'}") from None
            if kind == "record":
                record = payload[0]
                if isinstance(record, RunStarted):
                    self.started = True
                elif isinstance(record, DynamicsChanged):
                    self.dynamics = DynamicsConfig(**record.new)
                self.buffer.handle(record)
            elif kind == "path":
                self.path = Path(payload[0])
            elif kind == "ended":
                self.finishing = True
            elif kind == "done":
                end, self.note = payload
                return end
            elif kind == "error":
                name, message = payload
                raise (BadInput if name == "BadInput" else RunFailed)(message)
            # ("error-switch", message): a switch the engine refused after our check; nothing to do

    # -- control from the UI thread -------------------------------------------------
    def _send(self, message) -> None:
        with self._lock:
            control = self._control
        if control is None:
            return
        try:
            control.send(message)
        except (OSError, ValueError):  # the child has already gone
            pass

    def stop(self, reason: str = "stopped") -> None:
        """Stop at the next step boundary (the run ends with RunInterrupted)."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
        self._send(("stop", reason))

    def switch_dynamics(self, **changes) -> DynamicsConfig:
        """Checked here exactly as Run.switch_dynamics checks it (BadInput for the dialog), then
        applied by the engine at its next step boundary."""
        if not self.started:
            raise BadInput("the run is still loading its data: switch the dynamics once it trains")
        trial = presets.with_overrides(self.preset.replace(dynamics=self.dynamics),
                                       {f"dynamics.{k}": v for k, v in changes.items()})
        self._send(("switch", changes))
        return trial.dynamics


# ------------------------------------------------------------------ the child process

class PipeSink:
    """The console's sink in the child: each record, minus the weights, down the pipe."""

    def __init__(self, send) -> None:
        self.send = send

    def handle(self, record) -> None:
        self.send(("record", for_the_console(record)))


def run_in_child(preset: Preset, out_dir: str, data_dir, download: bool, threads: int | None,
                 records, control, resume_path: str | None = None) -> None:
    """The training process: the engine and the Zarr writer exactly as `glasslab run --no-ui`
    (or `glasslab resume RUN`, given resume_path)."""
    from glasslab.core import resume
    from glasslab.core.report import complete_store
    from glasslab.core.run import Run, drive
    from glasslab.core.writer import TrajectoryWriter

    # The console owns the terminal: a library warning printed here would land in its screen.
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    import torch

    torch.set_num_threads(threads or console_threads(torch.get_num_threads(), os.cpu_count()))
    lock = threading.Lock()
    state: dict = {"run": None, "stop": None}

    def send(message) -> None:
        with lock:  # the main loop and the control thread both report
            try:
                records.send(message)
            except (OSError, ValueError):  # the console has gone: train on and finish the store
                pass

    def stop(reason: str) -> None:
        with lock:
            state["stop"] = state["stop"] or reason
            run = state["run"]
        if run is not None:
            run.stop(reason)

    def listen() -> None:
        while True:
            try:
                kind, *payload = control.recv()
            except (EOFError, OSError):
                stop("console closed")
                return
            if kind == "stop":
                stop(payload[0])
            elif kind == "switch" and state["run"] is not None:
                try:
                    state["run"].switch_dynamics(**payload[0])
                except BadInput as err:  # checked in the console already; kept for safety
                    send(("error-switch", str(err)))

    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, lambda signum, _frame: stop(signal.Signals(signum).name))
    threading.Thread(target=listen, name="glasslab-control", daemon=True).start()
    try:
        if resume_path is not None:  # the store's lock is held from here on (released by the writer)
            run, lock = resume.prepare(resume_path, data_dir=data_dir, download=download)
            path = Path(resume_path)
            writer = TrajectoryWriter(path, lock=lock)
        else:
            run = Run(preset, data_dir=data_dir, download=download)
            out = trajectory.check_out_dir(out_dir)
            path = trajectory.new_run_path(out, preset.run.name or preset.name)  # as the CLI names it
            writer = TrajectoryWriter(path)
        send(("path", str(path)))
        with lock:
            state["run"] = run
            reason = state["stop"]
        if reason is not None:  # stopped while the data was loading
            run.stop(reason)
        end = drive(run, [writer, PipeSink(send)])
        send(("ended",))
        _, note = complete_store(path)
        send(("done", end, note))
    except GlasslabError as err:
        send(("error", type(err).__name__, str(err)))
    except Exception as err:  # noqa: BLE001 - reported to the console, which shows it
        send(("error", "RunFailed", f"{type(err).__name__}: {err}"))
    finally:
        with lock:
            records.close()
