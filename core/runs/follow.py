"""Follow a run through its store: the records it has committed since the last look, whatever runs it.

The store is the bus.  The writer commits a consistent prefix (trajectory.py):
rows first, then the committed counts, status and events in one atomic write
of the root attributes; it publishes the running loss at least once a second
(writer.LIVE_FLUSH_S).  `StoreFollower.poll()` reads those attributes (one
small JSON file), then only the rows committed since its last poll, and turns
them back into the engine's records (RunStarted, StepLogged, SnapshotTaken
without weights or resume state, DynamicsChanged, the end record), in step
order.  The console folds them into its curves exactly as it folded the live
records before, so a run it started and a run it follows look the same, and
a finished store replays the same way.  The training process does nothing
for its followers beyond what it writes anyway.

Reads race the writer safely: rows below a committed count are never
rewritten; the loss log grows during a run (reopened when it has), the other
arrays change size only when the run has ended, after which they are reopened.
A store that ended and is then written again (a resume, by any process) is
followed on: its new session's RunStarted (resumed) and records come next.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from glasslab.core.records import (
    DynamicsChanged,
    Evaluation,
    SnapshotTaken,
    StepLogged,
)
from glasslab.core.runs.live import ENDED
from glasslab.core.store import codec, layout, reader
from glasslab.core.store.codec import end_record, run_started
from glasslab.core.store.reader import store_attrs

# Records at one step come in the order the run yields them.
_ORDER = {StepLogged: 0, SnapshotTaken: 1, DynamicsChanged: 2}


class StoreFollower:
    """The records of one store, as it grows.  Not thread-safe: one poller."""

    def __init__(self, path: str | Path, *, after_events: int = 0) -> None:
        """after_events: ignore the store until its events list is longer than this (a resume
        follows a store that still says `interrupted` until the resumed run commits)."""
        self.path = Path(path)
        self.after_events = after_events
        self.n_snapshots = 0
        self.n_loss = 0
        self.n_events = 0
        self.started = False
        self.ended = None  # the end record, once emitted
        self.attrs: dict = {}
        self._root = None
        self._arrays: dict = {}
        self._final = False
        self._sessions = 0  # the resumed sessions the store had when its end was read

    @classmethod
    def from_now(cls, path: str | Path) -> "StoreFollower":
        """Follow only what is committed from now on: a resume in the same store, whose earlier rows
        the caller already shows and whose `interrupted` status is not the resumed run's end."""
        attrs = store_attrs(path) or {}
        f = cls(path, after_events=len(attrs.get("events", [])))
        f.n_snapshots, f.n_loss = int(attrs.get("n_snapshots", 0)), int(attrs.get("n_loss", 0))
        f.n_events = f.after_events
        return f

    def poll(self, steps_per_s: float = math.nan, eta_s: float = math.nan, gpu_memory_bytes: int | None = None) -> list:
        """Every record committed since the last poll ([] while the store does not exist yet).

        steps_per_s, eta_s, gpu_memory_bytes: the rate, the seconds left and the GPU memory in use
        that the run reports (its heartbeat), for the StepLogged records; the store keeps none of them.
        """
        if self.ended is not None and not self.written_again():
            return []
        attrs = store_attrs(self.path)
        if not attrs or "n_snapshots" not in attrs or len(attrs.get("events", [])) <= self.after_events:
            return []
        self.attrs = attrs
        out = []
        if not self.started:
            out.append(run_started(attrs))
            self.started = True
        final = attrs.get("status") in ENDED
        if final and not self._final:  # the arrays were cut to the committed counts: reopen them
            self._final, self._root, self._arrays = True, None, {}
        items = self._snapshots(int(attrs["n_snapshots"]), attrs)
        items += self._loss(int(attrs["n_loss"]), steps_per_s, eta_s, gpu_memory_bytes)
        events = attrs.get("events", [])
        items += codec.switches(events[self.n_events:])
        self.n_events = len(events)
        out += sorted(items, key=lambda r: (r.step, _ORDER[type(r)]))
        if final:
            self.ended = end_record(events[-1] if events else {"kind": attrs["status"]}, attrs)
            self._sessions = _sessions(events)
            out.append(self.ended)
        return out

    def written_again(self) -> bool:
        """After the end: has a new session (a resume, by any process) written the store since?  If so,
        the next poll() follows it from where it continues (its RunStarted, resumed): a second console
        showed a continued run as ended for good (issue 31.6).  One small read."""
        attrs = store_attrs(self.path) or {}
        events = attrs.get("events", [])
        if _sessions(events) <= self._sessions:  # (a session may have ended again already: replayed to its end)
            return False
        self.ended, self.started, self._final, self._root, self._arrays = None, False, False, None, {}
        # What the new session keeps: the resume trims the switches after its point and counts its rows from there.
        self.n_events = max(i for i, e in enumerate(events) if e.get("kind") == "resumed")
        self.after_events = 0
        self.n_snapshots = min(self.n_snapshots, int(attrs.get("n_snapshots", 0)))
        return True

    # -- reading rows --------------------------------------------------------------------
    def _arr(self, name: str):
        arr = self._arrays.get(name)
        if arr is None:
            if self._root is None:
                self._root = reader.open_group(self.path)
            arr = self._arrays[name] = self._root[name] if name in self._root else False
        return arr

    def _loss(self, n: int, rate: float, eta_s: float, gpu_memory_bytes: int | None = None) -> list:
        if n < self.n_loss:  # a resume cut the log back to its snapshot: it logs those steps again
            self.n_loss = n
        if n <= self.n_loss:
            return []
        for name in ("loss/step", "loss/value"):
            if self._arr(name).shape[0] < n:  # the log grew since it was opened (layout.grow_log): open it again
                self._arrays.pop(name)
        steps, values = self._arr("loss/step")[self.n_loss:n], self._arr("loss/value")[self.n_loss:n]
        self.n_loss = n
        # step -1 is the fill of a row never written (a resumed run that logged past the log's
        # planned size leaves such rows, see the report): not a point of the curve.
        return [StepLogged(int(s), float(v), rate, eta_s, gpu_memory_bytes) for s, v in zip(steps, values) if s >= 0]

    def _snapshots(self, n: int, attrs: dict) -> list:
        a = self.n_snapshots
        if n <= a:
            return []
        steps = self._arr("snapshot_step")[a:n]
        evals = {k: self._arr(f"evals/{k}")[a:n] for k in layout.EVALS}
        obs = {k: self._arr(f"observables/{k}")[a:n] for k in layout.OBSERVABLES if self._arr(f"observables/{k}") is not False}
        # Two-time columns a..n-1: entry [i, j] is X(t_i, t_j), filled online for the waiting times.
        cols = {name: np.asarray(self._arr(name)[:n, a:n]) for name in layout.TWO_TIME if self._arr(name) is not False}
        out = []
        for k, j in enumerate(range(a, n)):
            ev = Evaluation(*(float(evals[name][k]) for name in layout.EVALS))
            o = {name: float(v[k]) for name, v in obs.items() if math.isfinite(v[k])}
            rows = {}
            for i in range(j):
                entry = {key: float(cols[name][i, k]) for name, (key, _) in layout.TWO_TIME.items() if name in cols}
                if math.isfinite(entry.get("delta", math.nan)):
                    rows[i] = entry
            out.append(SnapshotTaken(j, int(steps[k]), None, ev, o, {}, rows))
        self.n_snapshots = n
        return out


def _sessions(events: list[dict]) -> int:
    return sum(1 for e in events if e.get("kind") == "resumed")
