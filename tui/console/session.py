"""The live run behind the console: the engine on a worker thread, and the buffer it fills.

Thread, not child process: torch releases the GIL inside its kernels, so on two
cores the UI thread gets its turns (a key press is answered in a few ms, see
benchmarks/console.py); the records stay the engine's own objects, with no
pickling of snapshots across a pipe; `Run.stop` and `Run.switch_dynamics` are
already thread-safe; and the writer, the printer and the console are sinks of
one `core.run.drive` loop, exactly as in `glasslab run --no-ui`.  The cost is
that the console's Python (drawing) competes with the loop's Python for the
GIL, which is why drawing is coalesced to a few frames per second.

Coalescing: `RecordBuffer.handle` (training thread) only appends the record to
a list under a lock; the screen drains the list from a timer on the UI thread
(4 Hz) and draws once per drain.  The draw rate is therefore bounded however
fast records arrive, and the message queue is never flooded.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from core import trajectory
from core.errors import BadInput
from core.presets import Preset
from core.records import SnapshotTaken


def finish_two_time(path: Path) -> str:
    """Complete the whole upper triangle of Delta, Q, alpha2, Y from the stored weights, as
    `glasslab run --no-ui` does once the run has ended; returns a warning, or ''."""
    from core import checkpoint

    lock = checkpoint.acquire(path)
    try:
        trajectory.complete_two_time(path)
    except (OSError, ValueError) as err:
        return f"two-time matrices not completed ({err}); glasslab analyze {path} will retry"
    finally:
        checkpoint.release(lock)
    return ""


class RecordBuffer:
    """A sink that keeps the records until the UI thread drains them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list = []

    def handle(self, record) -> None:
        if isinstance(record, SnapshotTaken):
            # The host copy of the weights belongs to the writer (which releases
            # it), and the resume state is large: the console keeps neither.
            record = dataclasses.replace(record, weights=None, state={})
        with self._lock:
            self._records.append(record)

    def drain(self) -> list:
        with self._lock:
            out, self._records = self._records, []
        return out


class LiveSession:
    """One run started from the console: build it, drive it into a store, steer it."""

    def __init__(self, preset: Preset, out_dir: str | Path, *, data_dir: str | None = None,
                 download: bool = False) -> None:
        self.preset = preset
        self.out_dir = Path(out_dir)
        self.data_dir, self.download = data_dir, download
        self.buffer = RecordBuffer()
        self.path: Path | None = None
        self._lock = threading.Lock()
        self._run = None
        self._stop_reason: str | None = None
        self.finishing = False  # the run has ended; the two-time matrices are being completed
        self.note = ""  # a warning for the user once it is all done

    # -- the worker thread ---------------------------------------------------
    def train(self):
        """Build the run, drive it into a new store and complete the store; returns the end record.

        Raises the engine's BadInput (data missing, bad device, unwritable
        output directory) or RunFailed (disk full); the screen reports them.
        """
        from core.run import Run, drive
        from core.writer import TrajectoryWriter

        # Loads the data set and builds the model: seconds for the real data sets.
        run = Run(self.preset, data_dir=self.data_dir, download=self.download)
        out = trajectory.check_out_dir(self.out_dir)
        path = trajectory.new_run_path(out, self.preset.run.name or self.preset.name)  # as the CLI names it
        writer = TrajectoryWriter(path)
        with self._lock:
            self._run, self.path = run, path
            if self._stop_reason is not None:  # stopped while the data was loading
                run.stop(self._stop_reason)
        end = drive(run, [writer, self.buffer])
        self.finishing = True
        self.note = finish_two_time(path)
        return end

    # -- control from the UI thread ------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Stop at the next step boundary (the run ends with RunInterrupted)."""
        with self._lock:
            self._stop_reason = reason
            run = self._run
        if run is not None:
            run.stop(reason)

    def switch_dynamics(self, **changes):
        """Validated now (BadInput), applied by the engine at the next step boundary."""
        with self._lock:
            run = self._run
        if run is None:
            raise BadInput("the run is still loading its data: switch the dynamics once it trains")
        return run.switch_dynamics(**changes)
