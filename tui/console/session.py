"""The run behind the live screen: followed through its store, steered through its control channel.

Every run is its own process, the one `glasslab run --no-ui` is (core/runs/launch.py
starts it detached: own session, immune to the console's exit and to SIGHUP).
The console never holds a run: it reads the store, like any other reader.  One
data path for all runs, whoever started them: a thread (the screen's @work
worker) polls the store every POLL_S with core.runs.follow.StoreFollower and appends
the records to a RecordBuffer; the UI thread drains that at 4 Hz and draws once
per drain (the coalescing that keeps the key latency, BENCHMARKS.md).  Steering
writes request files (core/runs/control.py) that the run answers between steps; the
answers come back through the same thread.

What this replaced: the run trained in a child of the console and sent its
records down a pipe.  That kept UI work off the training process (still so: the
run only writes its store, as it does headless) but tied the run's life to the
console's.
"""

from __future__ import annotations

import threading
from pathlib import Path

from glasslab.core.config import dynamics, presets
from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.errors import BadInput, RunFailed
from glasslab.core.records import DynamicsChanged, RunStarted
from glasslab.core.runs import control, launch, live
from glasslab.core.runs.follow import StoreFollower

from .resumable import dynamics_at

POLL_S = 0.25  # the store is read at this rate: the screen redraws at 4 Hz, the writer publishes every 1 s


class RecordBuffer:
    """Records kept until the UI thread drains them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list = []

    def handle(self, record) -> None:
        with self._lock:
            self._records.append(record)

    def drain(self) -> list:
        with self._lock:
            out, self._records = self._records, []
        return out


class RunSession:
    """One run on the live screen: its records from the store, its requests to the run."""

    def __init__(self, path: str | Path, *, process=None, resume: bool = False) -> None:
        """process: the Popen when this console started the run (it reaps it); resume: the run is
        being continued in its store, whose earlier end is not this run's end."""
        self.path = Path(path)
        self.process = process
        self.resume = self.path if resume else None
        self.follower = StoreFollower.from_now(self.path) if resume else StoreFollower(self.path)
        self.buffer = RecordBuffer()
        self.started = False  # RunStarted has arrived: the engine trains
        self.finishing = False  # the run has ended; its process completes the two-time matrices
        self.stale = False  # the store says running but its process is gone
        self.pid: int | None = process.pid if process is not None else None
        self.note = ""
        self.preset = None
        self.dynamics: DynamicsConfig | None = None
        self._pending: list[tuple[str, str]] = []  # (request id, what) waiting for the run's answer
        self._answers: list[tuple[str, control.Answer]] = []
        self._lock = threading.Lock()
        self._quit = threading.Event()

    # -- the follower (the screen's worker thread) ----------------------------------------
    def follow(self):
        """Read the store until the run has ended and its process is done; returns the end record.

        Returns None when the run turns out stale (its process is gone while the
        store says running; session.stale is then set) or when following is
        given up (detach()).  Raises BadInput/RunFailed with the run's own
        error line when its process ends without a store (data missing, ...).
        """
        while True:
            state = live.describe(self.path)
            self.pid = self.pid or state.pid
            for r in self.follower.poll(state.steps_per_s, state.eta_s, (state.gpu or {}).get("memory_allocated_bytes")):
                if isinstance(r, RunStarted):
                    self.started = True
                    self.preset = presets.from_stored(r.preset) if r.preset else None
                    self.dynamics = self.preset.dynamics if self.preset else None
                    switched = dynamics_at(self.path, r.start_step) if r.resumed and self.preset else None
                    if switched:  # a continued run trains on with the switches it had applied
                        self.dynamics = switched
                elif isinstance(r, DynamicsChanged):
                    self.dynamics = r.new
                self.buffer.handle(r)
            self._collect_answers()
            ended = self.follower.ended is not None
            gone = self._process_gone(state)
            if ended:
                self.finishing = True
                if gone:
                    self._collect_answers()
                    return self.follower.ended
            elif gone and self.follower.started:
                self.stale = True
                return None
            elif gone:
                message = launch.last_error(self.path) or "the run's process ended before it wrote its store"
                code = self.process.returncode if self.process is not None else None
                raise (BadInput if code == 2 else RunFailed)(message)
            if self._quit.wait(POLL_S):
                return None

    def wait_for_new_session(self, every: float = 1.0) -> bool:
        """After the end: wait until some process continues the run in its store (`c` in another
        console, glasslab resume); True then, and follow() goes on with the new session.  False once
        detached.  One small read a second (issue 31.6)."""
        while not self._quit.wait(every):
            if self.follower.written_again():
                self.finishing = False
                return True
        return False

    def _process_gone(self, state: live.LiveRun) -> bool:
        if self.process is not None:
            return self.process.poll() is not None  # also reaps it
        return not state.alive

    def detach(self) -> None:
        """Stop following (the run goes on)."""
        self._quit.set()

    # -- requests (UI thread) ----------------------------------------------------------------
    def _send(self, action: str, what: str, **kw) -> str:
        rid = control.send(self.path, action, **kw)
        with self._lock:
            self._pending.append((rid, what))
        return rid

    def stop(self, reason: str = "stopped in the console") -> None:
        """Ask the run to stop at its next step boundary (the store ends `interrupted`)."""
        self._send("stop", "stop", reason=reason)

    def switch_dynamics(self, **changes) -> DynamicsConfig:
        """Checked here as Run.switch_dynamics checks it (BadInput for the dialog), then sent to the run."""
        if not self.started or self.preset is None:
            raise BadInput("the run is still loading its data: switch the dynamics once it trains")
        new = dynamics.switched(self.preset, self.dynamics or self.preset.dynamics, changes)
        self._send("switch", f"dynamics -> {new.kind}", changes=changes)
        return new

    def _collect_answers(self) -> None:
        with self._lock:
            pending = list(self._pending)
        for rid, what in pending:
            answer = control.answer_of(self.path, rid)
            if answer is not None:
                with self._lock:
                    self._pending.remove((rid, what))
                    self._answers.append((what, answer))

    def answers(self) -> list[tuple[str, control.Answer]]:
        """The run's answers that arrived since the last call (UI thread)."""
        with self._lock:
            out, self._answers = self._answers, []
        return out
