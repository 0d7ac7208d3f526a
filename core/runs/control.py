"""The control channel of a run: stop, switch-dynamics and note requests from any process of its owner.

A run is steered through files in a folder kept beside its store,
`RUN.zarr.control/` (mode 0700), not through a Unix domain socket.  Why:
our users run on clusters whose home and scratch are NFS; a socket file on
NFS connects only on the node that made it, so a console on the login node
could not steer a run on a compute node, while a file written there is read
there.  Files also need no listening thread blocked in accept() and leave a
record of what was asked and answered.  The cost is latency: the run lists
the folder every POLL_S of wall time (one directory read, on a thread of its
own, never on the training thread) and applies a request at its next step
boundary with the engine's thread-safe Run.stop / Run.switch_dynamics; a
request takes effect within POLL_S plus one step (tests/runs/test_control.py,
BENCHMARKS.md).  Beside the store, not inside: zarr takes folders inside a
group for its nodes (the writer's lock, RUN.zarr.lock, sits beside it too).

    RUN.zarr.control/
      process.json   who runs it: pid, start (the process's start time: a reused pid is not it), host,
                     uid, started, heartbeat (unix s), step, total,
                     steps_per_s, eta_s (seconds left, said at eta_at), dynamics, status;
                     rewritten every HEARTBEAT_S (core/runs/live.py reads it)
      req-ID.json    a request {"id", "action": "stop" | "switch" | "note", "changes", "reason", "note", "pid", "host",
                     "to": the run process it is meant for, {pid, start, host} as process.json named it}
      ans-ID.json    its answer {"id", "outcome": "applied" | "refused", "step", "reason"}
      output.log, preset.json   a detached run's output and the preset it was started with (core/runs/launch.py)

Only the owner may steer: the folder is created 0700; the run refuses (and
answers so) a request file that another user owns or that grants anything to
group or others, and every request while the folder itself does.  Files are
written to a hidden temporary name and renamed, so a reader never sees half
of one (rename is atomic on local file systems and on NFS within a folder).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import socket
import stat
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from glasslab.core.errors import BadInput
from glasslab.core.config.presets import check_tags
from glasslab.core.records import (
    DynamicsChanged,
    NoteAdded,
    RunInterrupted,
    RunStarted,
    SnapshotTaken,
    StepLogged,
    is_end,
)
from glasslab.core.store import lock as store_lock
from glasslab.core.store import notes as store_notes
from glasslab.core.store.paths import CONTROL_SUFFIX

SUFFIX = CONTROL_SUFFIX
POLL_S = 0.1  # how often the run looks for requests (wall clock); one listdir each time
HEARTBEAT_S = 1.0  # how often process.json is rewritten; readers call a silent writer elsewhere stale after STALE_S
STALE_S = 30.0


def process_start() -> float:
    """When this process started (unix s): requests older than that were meant for an earlier
    process of the same store (a stop that arrived after a run died must not stop its resume)."""
    try:
        return os.stat(f"/proc/{os.getpid()}").st_ctime  # Linux: the /proc entry appears with the process
    except OSError:
        return time.time()


def control_dir(store: str | Path) -> Path:
    """RUN.zarr.control beside the store's real path (a store reached through a symlink has one channel)."""
    store = store_lock.resolved(store)
    return store.with_name(store.name + SUFFIX)


def write_json(path: Path, data: dict) -> None:
    """Atomically (hidden temporary file, then rename), owner-only (0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def private_problem(path: Path, *, folder: bool) -> str | None:
    """Why `path` may not carry requests (another owner, a mode open to others), or None if it may."""
    try:
        st = os.lstat(path)
    except OSError as err:
        return f"{path} cannot be read ({err.strerror})"
    kind_ok = stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)
    if not kind_ok:
        return f"{path} is not a {'folder' if folder else 'plain file'}"
    if st.st_uid != os.getuid():
        return f"{path} belongs to uid {st.st_uid}, not to uid {os.getuid()} who owns the run: only the owner may steer it"
    if st.st_mode & 0o077:
        return (f"{path} has mode {stat.S_IMODE(st.st_mode):04o}, which lets other users in: "
                f"only the owner may steer a run (chmod {'700' if folder else '600'} {path})")
    return None


def make_dir(store: str | Path) -> Path:
    """The run's control folder, created owner-only if missing; BadInput if it exists but is not private."""
    d = control_dir(store)
    try:
        d.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise BadInput(f"cannot create {d} ({err.strerror}): choose a writable --out") from None
    problem = private_problem(d, folder=True)
    if problem:
        raise BadInput(problem)
    return d


# ------------------------------------------------------------------ the client side

@dataclass(frozen=True)
class Answer:
    id: str
    outcome: str  # applied | refused
    step: int | None
    reason: str
    dynamics: dict | None = None  # an applied switch: the dynamics the run goes on with (every field)
    ended: bool = False  # refused because the run ended first (nothing of the request was done)

    @property
    def applied(self) -> bool:
        return self.outcome == "applied"

    def line(self) -> str:
        if self.applied:
            return f"applied at step {self.step:,}" if self.step is not None else "applied"
        return f"refused: {self.reason}"


def send(store: str | Path, action: str, *, changes: dict | None = None, reason: str = "",
         note: dict | None = None, rid: str | None = None) -> str:
    """Write one request for the run of `store`; returns its id (`rid` if given, else a new one).
    BadInput if the channel is not ours.  note: {"text", "tags"} for action "note" (the request's id
    becomes the note's id in the store)."""
    d = control_dir(store)
    if not d.exists():
        raise BadInput(f"{store} has no control channel ({d} is missing): it was not started by this glasslab, "
                       "or it is not a run store")
    problem = private_problem(d, folder=True)
    if problem:
        raise BadInput(problem)
    if action not in ("stop", "switch", "note"):
        raise BadInput(f"unknown request {action!r}: stop, switch or note")
    rid = rid or f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    write_json(d / f"req-{rid}.json", {"id": rid, "action": action, "changes": changes or {}, "reason": reason,
                                       "note": note or {},
                                       "pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
                                       "to": addressee(d)})
    return rid


def addressee(folder: Path) -> dict | None:
    """The run process a request is meant for, as process.json names it now ({pid, start, host}; start
    is None while a detached run is still starting), or None when no process has described itself.

    The run refuses a request meant for another process (an earlier run of the store, dead since):
    an identity, not a time, so a sender whose clock is behind the run host's (an NTP step, a login
    node behind its compute node) is still heard (issue 31.4)."""
    info = read_json(folder / "process.json")
    if not info or info.get("pid") is None:
        return None
    return {"pid": int(info["pid"]), "start": info.get("start"), "host": info.get("host")}


def answer_of(store: str | Path, rid: str) -> Answer | None:
    a = read_json(control_dir(store) / f"ans-{rid}.json")
    if a is None:
        return None
    return Answer(a.get("id", rid), a.get("outcome", "refused"), a.get("step"), a.get("reason", ""), a.get("dynamics"),
                  bool(a.get("ended", False)))


def wait(store: str | Path, rid: str, timeout: float, alive=None, every: float = 0.05) -> Answer | None:
    """Poll for the answer to request `rid`; None after `timeout` s, or once `alive()` says the run is gone."""
    deadline = time.monotonic() + timeout
    while True:
        ans = answer_of(store, rid)
        if ans is not None:
            return ans
        if time.monotonic() > deadline or (alive is not None and not alive()):
            return answer_of(store, rid)  # it may have answered just before it went
        time.sleep(every)


# ------------------------------------------------------------------ the run side

class ControlChannel:
    """A sink that serves the control folder of one run (attach it to drive() beside the writer).

    A thread polls for requests and applies them through the run's thread-safe
    stop/switch_dynamics; handle() (training thread) only notes the records
    that settle a request (DynamicsChanged, the end) and the progress that
    process.json reports, so the training loop pays a few attribute stores
    per record.  Answers and the heartbeat are written by the thread.
    """

    def __init__(self, store: str | Path, run, *, completes: bool = False) -> None:
        """completes: this process goes on to complete the store (the two-time matrices) after the
        run and then exits, so readers should call it `finishing` until its pid is gone; otherwise
        (a run driven inside a longer-lived process) close() marks the process as done with the run."""
        self.store, self.run, self.completes = Path(store), run, completes
        self.dir = make_dir(store)
        self.info = {"pid": os.getpid(), "start": store_lock.process_start(os.getpid()), "host": socket.gethostname(),
                     "uid": os.getuid(), "store": str(self.store),
                     "started": time.time(), "heartbeat": time.time(), "status": "starting",
                     "step": int(getattr(run, "step", 0)), "total": int(run.total_steps), "steps_per_s": None,
                     "dynamics": _dynamics_of(run), "name": run.preset.run.name or run.preset.name}
        self._settled: collections.deque = collections.deque()  # records that answer requests, from handle()
        self._switches: collections.deque = collections.deque()  # ids of switches waiting for their DynamicsChanged
        self._stops: list[str] = []  # ids of stops waiting for the end
        self._notes: list[str] = []  # ids of notes waiting for their NoteAdded (committed by the writer first)
        self._wake = threading.Event()
        self._done = False
        self._announce = False  # a change of status to write before the next heartbeat
        self._since = process_start() - 1.0  # a second of slack for clocks that tick coarsely
        write_json(self.dir / "process.json", self.info)
        self._thread = threading.Thread(target=self._serve, name="glasslab-control", daemon=True)
        self._thread.start()

    # -- the sink (training thread): note, never write -------------------------------
    def handle(self, record) -> None:
        info = self.info
        if isinstance(record, StepLogged):
            info["step"], info["steps_per_s"] = record.step, record.steps_per_s
            info["gpu_memory_bytes"] = record.gpu_memory_bytes  # ps and the console show it (None off CUDA)
            # when it was said: a reader counts the seconds since off (core/runs/live.py)
            info["eta_s"], info["eta_at"] = (record.eta_s, time.time()) if math.isfinite(record.eta_s) else (None, None)
        elif isinstance(record, SnapshotTaken):
            info["step"] = record.step
        elif isinstance(record, RunStarted):
            info["status"], info["step"], info["total"] = "running", record.start_step, record.total_steps
            info["device"], info["gpu"] = record.device, dict(record.gpu) or None
            self._announce = True  # say running now, not at the next heartbeat
            self._wake.set()
        elif isinstance(record, NoteAdded):
            self._settled.append(record)
            self._wake.set()
        elif isinstance(record, DynamicsChanged) or is_end(record):
            info["step"] = record.step
            if isinstance(record, DynamicsChanged):
                info["dynamics"] = dataclasses.asdict(record.new)
            else:
                info["status"] = record.status
            self._settled.append(record)
            self._wake.set()  # answer now, not at the next poll

    def close(self) -> None:
        """Answer what is left, write the last heartbeat, stop the thread."""
        self._done = True
        self._wake.set()
        self._thread.join(timeout=10)

    def release(self) -> None:
        """Say in process.json that this process is done with the store (after close() and the
        two-time completion): readers then call the run ended, not finishing, though the process
        lives on (a run driven in a notebook or a test), and a note may take the store's lock."""
        self.info["closed"] = True
        try:
            write_json(self.dir / "process.json", dict(self.info))
        except OSError:
            pass

    # -- the thread ---------------------------------------------------------------------
    def _serve(self) -> None:
        beat = 0.0
        while True:
            done = self._done
            self._settle()
            if done:
                self._refuse_all("the run has ended")
                self.info["closed"] = not self.completes  # done with the run: the process may live on
            else:
                self._poll()
            now = time.monotonic()
            if done or self._announce or now - beat >= HEARTBEAT_S:
                beat, self._announce = now, False
                self.info["heartbeat"] = time.time()
                try:
                    write_json(self.dir / "process.json", dict(self.info))
                except OSError:  # the folder was removed or the disk is full: training goes on
                    pass
            if done:
                return
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _answer(self, rid: str, outcome: str, step: int | None, reason: str = "", dynamics: dict | None = None,
                ended: bool = False) -> None:
        answer = {"id": rid, "outcome": outcome, "step": step, "reason": reason}
        if dynamics is not None:
            # DynamicsChanged.new is a DynamicsConfig since the records became typed (d8a3f8c); dict(it)
            # raised in the channel's thread, which died: no answer, no heartbeat, every later request unanswered.
            answer["dynamics"] = dataclasses.asdict(dynamics) if dataclasses.is_dataclass(dynamics) else dict(dynamics)
        if ended:
            answer["ended"] = True
        try:
            write_json(self.dir / f"ans-{rid}.json", answer)
        except OSError:
            pass

    def _settle(self) -> None:
        while self._settled:
            r = self._settled.popleft()
            if isinstance(r, NoteAdded):
                if r.id in self._notes:
                    self._notes.remove(r.id)
                    self._answer(r.id, "applied", r.step)
                continue
            if isinstance(r, DynamicsChanged):
                if self._switches:
                    self._answer(self._switches.popleft(), "applied", r.step, dynamics=r.new)
                continue
            for rid in self._stops:  # the end: stops are applied if it was an interruption
                if isinstance(r, RunInterrupted):
                    self._answer(rid, "applied", r.step, r.reason)
                else:
                    self._answer(rid, "refused", r.step, f"the run {r.status} at step {r.step} before the stop")
            self._stops.clear()
            self._refuse_all(f"the run {r.status} at step {r.step} first")

    def _refuse_all(self, reason: str) -> None:
        """The run has ended: refuse every request not yet applied (answers marked `ended`)."""
        while self._switches:
            self._answer(self._switches.popleft(), "refused", None, reason, ended=True)
        for rid in self._stops + self._notes:  # a note queued in the run but not yet taken is not written
            self._answer(rid, "refused", None, reason, ended=True)
        self._stops.clear()
        self._notes.clear()
        for path, _ in self._requests():
            self._answer(path.name[4:-5], "refused", None, reason, ended=True)
            path.unlink(missing_ok=True)

    def _requests(self):
        try:
            names = sorted(n for n in os.listdir(self.dir) if n.startswith("req-") and n.endswith(".json"))
        except OSError:
            return []
        return [(self.dir / n, n[4:-5]) for n in names]

    def _poll(self) -> None:
        requests = self._requests()
        if not requests:
            return
        folder = private_problem(self.dir, folder=True)
        for path, rid in requests:
            problem = folder or private_problem(path, folder=False)
            req = read_json(path) if problem is None else None
            path.unlink(missing_ok=True)  # each request is read once, answered once
            if problem is not None:
                self._answer(rid, "refused", None, problem)
            elif req is None:
                self._answer(rid, "refused", None, "the request could not be read as JSON")
            elif not self._meant_for_me(req):
                self._answer(rid, "refused", None, "it was sent to an earlier process of this store, not to this run")
            else:
                self._apply(rid, req)

    def _meant_for_me(self, req: dict) -> bool:
        """A request names the process it was sent to (send: from process.json).  One that names none
        (an older glasslab; a folder with no process yet) is judged by its time, the sender's clock
        against this host's, as before."""
        to = req.get("to")
        if not isinstance(to, dict):
            return float(req.get("time", 0)) >= self._since
        me = self.info
        return (to.get("pid") == me["pid"] and to.get("host") in (None, me["host"])
                and to.get("start") in (None, me["start"]))

    def _apply(self, rid: str, req: dict) -> None:
        action = req.get("action")
        who = f"pid {req.get('pid')} on {req.get('host')}"
        if action == "stop":
            self._stops.append(rid)
            self.run.stop(req.get("reason") or f"stopped by {who}")
        elif action == "switch":
            try:
                self.run.switch_dynamics(**dict(req.get("changes") or {}))
            except (BadInput, TypeError, ValueError) as err:
                self._answer(rid, "refused", None, str(err))
                return
            self._switches.append(rid)
        elif action == "note":
            note = req.get("note") or {}
            try:
                text, tags = store_notes.check_text(note.get("text", "")), check_tags(note.get("tags") or [])
            except BadInput as err:
                self._answer(rid, "refused", None, str(err))
                return
            if not text and not tags:
                self._answer(rid, "refused", None, "an empty note: give its text or a tag")
                return
            self._notes.append(rid)
            self.run.add_note(rid, text, tags)
        else:
            self._answer(rid, "refused", None, f"unknown request {action!r}: stop, switch or note")


def _dynamics_of(run) -> dict:
    import dataclasses

    trainer = getattr(run, "trainer", None)
    cfg = getattr(trainer, "cfg", None) or run.preset.dynamics
    return dataclasses.asdict(cfg)
