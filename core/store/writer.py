"""The Zarr writer sink: records in, a consistent trajectory on disk, off the training thread.

`handle()` only puts the record on a bounded queue, so the training loop waits
only when the writer is `queue_size` records behind.  One thread owns the
store and applies records in order.  A write error (disk full, permission)
is kept and raised as RunFailed from the next `handle()` or from `close()`,
so the run stops cleanly; the thread then still tries to mark the store
`interrupted` so that what was written stays usable.

Fencing: before writing a snapshot and before each commit the writer checks
that the store's lock is still its own (core/store/lock.py).  If another
process has taken it over, the writer stops with LockLost and writes nothing
more, not even `interrupted`: the store is the new holder's.
"""

from __future__ import annotations

import errno
import math
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from glasslab.core.errors import RunFailed
from glasslab.core.records import (
    DynamicsChanged,
    NoteAdded,
    RunStarted,
    SnapshotTaken,
    StateSaved,
    StepLogged,
    is_end,
)
from glasslab.core.store import layout, notes, reader, resume_state
from glasslab.core.store import lock as store_lock
from glasslab.core.store.codec import is_switch, started_attrs, to_event, versions

_CLOSE = object()


class LockLost(Exception):
    """Another process took the store's lock over: this writer must not write again."""

# The running loss is published at least this often (wall clock) between snapshots, so that a
# console following the store (core/runs/follow.py) draws it live; one commit costs a few ms here.
LIVE_FLUSH_S = 1.0


class TrajectoryWriter:
    def __init__(self, path: str | Path, *, queue_size: int = 4, lock: Path | None = None):
        self.path = Path(path)
        self.lock = lock  # a resume takes the lock before training; a new run takes it on creation
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.failed = False  # set once, by the thread, at the first write error
        self.root = None
        self.n_snapshots = 0
        self.n_loss = 0
        self._loss_buf: list[tuple[int, float]] = []
        self._committed_at = time.monotonic()
        self._attrs: dict[str, Any] = {}
        self._handles: dict[str, Any] = {}
        self._slots: dict[str, Any] = {}
        self._saves = 0  # stop/checkpoint states written; saved0/saved1 alternate by it
        self.committed_step = -1  # the last step whose snapshot, state or loss entry is committed
        self._thread = threading.Thread(target=self._work, name="glasslab-writer", daemon=True)
        self._thread.start()

    # -- the sink interface (training thread) ----------------------------------
    def handle(self, record) -> None:
        self._raise_if_failed()
        self.queue.put(record)
        if isinstance(record, (DynamicsChanged, NoteAdded)):
            # A switch is part of the trajectory: once the run takes its next step the switch is
            # on disk, so a SIGKILL after it cannot lose it.  Rare, so the wait (one commit) is cheap.
            # A note likewise: the control channel, a later sink, answers "applied" only after this.
            self.queue.join()
            self._raise_if_failed()

    def close(self) -> None:
        """Flush everything queued, stop the thread, raise a pending write error."""
        if self._thread.is_alive():
            self.queue.put(_CLOSE)
            self._thread.join()
        store_lock.release(self.lock)
        self.lock = None
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.failed:
            raise RunFailed(describe_write_error(self.path, self.error)) from None

    # -- the writer thread --------------------------------------------------------
    def _work(self) -> None:
        while True:
            record = self.queue.get()
            try:
                if record is _CLOSE:
                    return
                self._work_on(record)
            finally:
                self.queue.task_done()

    def _work_on(self, record) -> None:
        if self.failed:  # drop work after a failure, but free host buffers
            _release(record)
            return
        try:
            self._apply(record)
        except BaseException as err:  # noqa: BLE001 - reported through handle()/close()
            self.error = err
            _release(record)
            if not isinstance(err, LockLost):  # after a takeover the store is not ours to mark
                self._try_mark("interrupted", {"step": getattr(record, "step", -1), "kind": "write_failed",
                                               "error": str(err)})
            self.failed = True  # only now: the store is marked before anyone hears of it

    def _apply(self, record) -> None:
        if isinstance(record, RunStarted):
            self._start(record)
        elif isinstance(record, StepLogged):
            self._loss_buf.append((record.step, record.loss))
            if time.monotonic() - self._committed_at >= LIVE_FLUSH_S:
                self._commit()
        elif isinstance(record, SnapshotTaken):
            self._snapshot(record)
        elif isinstance(record, StateSaved):
            self._save_state(record)
        elif isinstance(record, DynamicsChanged):
            self._commit(events=[to_event(record)])
        elif isinstance(record, NoteAdded):  # kept apart from events: a resume trims events, never notes
            self._attrs["notes"] = [*notes.notes_of(self._attrs), notes.entry_of(record)]
            self._commit(step=record.step)
        elif is_end(record):
            self._flush_loss()
            layout.set_sizes(self.root, self.n_snapshots, self.n_loss)  # exact shapes from now on
            self._handles.clear()
            self._commit(status=record.status, events=[to_event(record)], wall_s=record.wall_s)

    def _start(self, r: RunStarted) -> None:
        capacity = len(r.snapshot_steps)
        # The loss log grows as it fills (layout.grow_log): sized by the plan, a planned 10^18 steps
        # asked for petabytes when the run stopped and cut its arrays (issue 31.5).
        loss_capacity = layout.loss_room(r.total_steps // int(r.preset["recording"]["log_every"]))
        if r.resumed:  # appends to its existing store (resumed from step 0 too: the stress test found it)
            self.root = reader.open_group(self.path, mode="r+")
            self._attrs = dict(self.root.attrs)
            self.n_snapshots = int(self._attrs["n_snapshots"])
            # The loss log and the switches continue from the resume point: what was logged or
            # switched after it (before a kill, or before a stop in an older store) is done again.
            point = r.resumed_from
            self.n_loss = min(int(point.get("n_loss", self._attrs["n_loss"])), int(self._attrs["n_loss"]))
            self._attrs["events"] = kept_events(self._attrs.get("events", []), int(point.get("switches", 1 << 62)))
            self._saves = int(self._attrs.get("saves", 0))
            self.committed_step = int(r.start_step)
            layout.add_missing_evals(self.root, capacity)  # a store older than N_Delta
            layout.set_sizes(self.root, capacity, self.n_loss)  # the log from its committed entries: it grows
            layout.clear_after(self.root, self.n_snapshots, self.n_loss)  # a half-written snapshot
            resumed = {"step": r.start_step, "kind": "resumed", "from": point.get("source", "snapshot"),
                       "threads": r.threads, "device": r.device, **versions()}  # this session's versions
            self._commit(status="running", events=[resumed], snapshot_grid=r.snapshot_steps,
                         total_steps=r.total_steps, two_time_complete=0, threads=r.threads, device=r.device,
                         gpu=dict(r.gpu) or None)  # the device it continues on, as a fresh start records it
            return
        self._attrs = started_attrs(r)
        self.root = layout.create(self.path, self._attrs, r.n_params, capacity, loss_capacity)
        if self.lock is None:
            self.lock = store_lock.acquire(self.path)

    def _arr(self, name: str):
        """Array handles are opened once: each open reads metadata through zarr's event loop."""
        arr = self._handles.get(name)
        if arr is None:
            arr = self._handles[name] = self.root[name]
        return arr

    def _fence(self) -> None:
        """Raise LockLost if the store's lock is no longer ours (one small read; see core/store/lock.py)."""
        if self.lock is None:
            return
        other = store_lock.held_by_other(self.lock)
        if other is not None:
            who = f"pid {other.get('pid')} on {other.get('host')}" if other else "nobody (it was removed)"
            raise LockLost(f"lost the store's lock to {who}: stopped, nothing after step {self.committed_step} written")

    def _snapshot(self, r: SnapshotTaken) -> None:
        self._fence()
        root, n, arr = self.root, self.n_snapshots, self._arr
        try:
            w = r.weights.tensor().numpy()
            layout.write_rows(arr("weights"), n, w[None, :])
        finally:
            r.weights.release()
        _fault_point(n)
        ev = r.evaluation
        writes = [(arr("snapshot_step"), slice(n, n + 1), np.array([r.step], dtype=np.int64))]
        writes += [(arr(f"evals/{name}"), slice(n, n + 1), np.array([getattr(ev, name)], dtype=np.float64))
                   for name in layout.EVALS]
        writes += [(arr(f"observables/{name}"), slice(n, n + 1), np.array([r.observables.get(name, math.nan)]))
                   for name in layout.OBSERVABLES]
        for name, (key, diagonal) in layout.TWO_TIME.items():
            column = np.full(n + 1, math.nan)
            for i, row in r.displacements.items():
                column[i] = row[key]
            column[n] = diagonal
            writes.append((arr(name), (slice(0, n + 1), n), column))
        layout.write_many(writes)
        if r.state:
            slot = n % 2  # the other slot (or a saved one) holds the last committed state
            resume_state.write_slot(root, slot, r.state, self._slots)
            self._flush_loss()  # the log up to this step belongs to the resume point
            self._attrs["resume"] = {"slot": slot, "snapshot": n, "step": r.step, "source": "snapshot",
                                     "n_loss": self.n_loss, "saved_at": r.state.get("taken_at", time.time())}
        self.n_snapshots = n + 1
        self._commit(step=r.step)

    def _save_state(self, r: StateSaved) -> None:
        """A stop or checkpoint state: into the saved slot that the committed pointer does not use
        (they alternate), then one atomic commit moves the pointer to it."""
        slot = f"saved{self._saves % 2}"
        resume_state.write_slot(self.root, slot, r.state, self._slots)
        self._saves += 1
        self._flush_loss()
        self._attrs["resume"] = {"slot": slot, "snapshot": self.n_snapshots - 1, "step": r.step, "source": r.why,
                                 "n_loss": self.n_loss, "saved_at": r.state.get("taken_at", time.time())}
        self._commit(saves=self._saves, step=r.step)

    def _flush_loss(self) -> None:
        if not self._loss_buf:
            return
        steps = np.array([s for s, _ in self._loss_buf], dtype=np.int64)
        values = np.array([v for _, v in self._loss_buf], dtype=np.float64)
        end = self.n_loss + len(steps)
        layout.grow_log([self._arr("loss/step"), self._arr("loss/value")], end)  # before the data: readers read n_loss
        layout.write_many([(self._arr("loss/step"), slice(self.n_loss, end), steps),
                               (self._arr("loss/value"), slice(self.n_loss, end), values)])
        self.n_loss += len(steps)
        self._loss_buf.clear()

    def _commit(self, status: str | None = None, events: list[dict] | None = None, step: int = -1, **extra) -> None:
        """Publish the committed counts (and status/events) in one atomic attributes write, if the lock
        is still ours (fencing)."""
        self._fence()
        step = max(step, self._loss_buf[-1][0] if self._loss_buf else -1)
        self._flush_loss()
        if events:
            self._attrs["events"] = list(self._attrs.get("events", [])) + events
        if status:
            self._attrs["status"] = status
        self._attrs.update(extra)
        self._attrs["n_snapshots"] = self.n_snapshots
        self._attrs["n_loss"] = self.n_loss
        layout.commit_attrs(self.root, self._attrs)
        self._committed_at = time.monotonic()
        self.committed_step = max(self.committed_step, step)

    def _try_mark(self, status: str, event: dict) -> None:
        if self.root is None:
            return
        try:
            self._loss_buf.clear()
            self._commit(status=status, events=[event])
        except Exception:  # the disk may still be full: the last committed state stands
            pass


def kept_events(events: list[dict], switches: int) -> list[dict]:
    """The events a resume keeps: all but the dynamics switches past the first `switches`
    (those lie after the resume point; the resumed run replays and records them again)."""
    out, seen = [], 0
    for e in events:
        if is_switch(e):
            seen += 1
            if seen > switches:
                continue
        out.append(e)
    return out


def _fault_point(n: int) -> None:
    """Test hook for crash tests: with GLASSLAB_FAULT_PAUSE_AT_SNAPSHOT=n the writer stops
    for good in the middle of snapshot n (weights written, nothing committed) after
    touching GLASSLAB_FAULT_MARKER, so a test can SIGKILL the process exactly there."""
    at = os.environ.get("GLASSLAB_FAULT_PAUSE_AT_SNAPSHOT")
    if at is not None and int(at) == n:
        marker = os.environ.get("GLASSLAB_FAULT_MARKER")
        if marker:
            open(marker, "w").close()
        while True:
            time.sleep(3600)


def _release(record) -> None:
    if isinstance(record, SnapshotTaken):
        record.weights.release()


def describe_write_error(path: Path, err: BaseException) -> str:
    if isinstance(err, LockLost):
        return str(err)
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return f"disk full while writing {path}: free space and start again; every snapshot committed so far in it is kept"
    if isinstance(err, PermissionError):
        return f"cannot write {path} ({err.strerror}): choose a writable --out directory"
    return f"writing {path} failed ({type(err).__name__}: {err}); the snapshots committed so far are kept"
