"""Which runs are live: their process, its heartbeat, and stale stores (`glasslab ps`, the console).

A run's process is described by RUN.zarr.control/process.json (core/runs/control.py):
pid, host, uid and a heartbeat rewritten every second by the run.  A store is

- live      its process is there: on this host, the pid exists; on another host
            (a shared file system), the heartbeat is younger than STALE_S;
- stale     its status is still `running` but its process is gone (killed,
            out of memory, the node rebooted): `glasslab resume` continues it;
- starting  a detached run whose store does not exist yet (loading its data).

Stores written without a control folder (older versions) fall back on the
writer's lock (core/store/resume_state.py), which also holds pid and host.
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from glasslab.core.config import dynamics
from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.runs.control import STALE_S, SUFFIX, control_dir, read_json
from glasslab.core.store import codec
from glasslab.core.store import lock as store_lock
from glasslab.core.store.lock import pid_alive
from glasslab.core.store.notes import notes_of, tags_of
from glasslab.core.store.reader import store_attrs

ENDED = ("finished", "interrupted", "diverged")


def process_alive(info: dict | None) -> bool:
    """Is the process that process.json (or a lock) describes still there?"""
    if not info:
        return False
    if info.get("host") == socket.gethostname():
        return pid_alive(int(info.get("pid", -1)), info.get("start"))  # a reused pid is not the run
    beat = info.get("heartbeat")
    return beat is not None and time.time() - float(beat) < STALE_S


@dataclass(frozen=True)
class LiveRun:
    """One row of `glasslab ps`."""

    store: Path
    name: str
    status: str  # starting | running | finishing | stale | failed (no store) | finished | interrupted | diverged
    pid: int | None
    host: str
    step: int
    total: int
    steps_per_s: float
    dynamics: str
    eta_s: float = math.nan  # seconds left, as the run last estimated them, less the time since
    tags: tuple[str, ...] = ()  # run.tags, then the tags its notes added (core/store/notes.py)
    note: str = ""  # its latest note's text
    device: str = ""  # cpu, cuda, cuda:N, mps ("" : a store from before it was recorded)
    # On a CUDA device: {"index", "name", "memory_total_bytes", "memory_allocated_bytes"}; the last
    # is the run's own use at its last heartbeat, present only while it runs.
    gpu: dict | None = None

    @property
    def stale(self) -> bool:
        return self.status == "stale"

    @property
    def alive(self) -> bool:
        return self.status in ("starting", "running", "finishing")


def describe(store: str | Path) -> LiveRun:
    """The state of one run, from its store's attributes and its process.json."""
    store = Path(store)
    attrs = store_attrs(store) or {}
    info = read_json(control_dir(store) / "process.json")
    if info is None:  # no control folder: the writer's lock is the only sign of a process
        info = store_lock.lock_owner(store)
    # A process that lives on after its run (a run driven inside a test or a notebook) is marked
    # closed; a headless run's process stays "alive" until it exits, its store completed.
    alive = process_alive(info) and not (info or {}).get("closed")
    stored = attrs.get("status")
    if alive and (not attrs or ((info or {}).get("status") == "starting" and not _writes(store, info, stored))):
        status = "starting"  # its writer has not made the store yet, or it loads its data before it resumes
    elif not attrs:  # a detached launch that never made its store (see its output.log)
        status = "failed"
    elif stored == "running":
        status = "running" if alive else "stale"
    else:  # ended; its process may still complete the two-time matrices (under the writer lock)
        status = "finishing" if alive or store_lock.lock_owner(store) is not None else stored or "stale"
    info = info or {}
    preset = attrs.get("preset") or {}
    dyn = dynamics.describe(info.get("dynamics") or _last_dynamics(attrs) or preset.get("dynamics") or {}, "kind") or "?"
    rate = info.get("steps_per_s")
    step = int(info.get("step") or 0)
    eta = math.nan
    if info.get("eta_s") is not None and info.get("eta_at") is not None:
        eta = max(float(info["eta_s"]) - (time.time() - float(info["eta_at"])), 0.0)
    if not alive:  # the heartbeat of a dead process says nothing now: the store's last step does
        rate, eta = None, math.nan
        step = _stored_step(attrs, step)
    else:  # whichever was written last: the heartbeat (once a second), or the store's snapshots and events.
        # A resume loading its data starts where the store ends, not at the launcher's 0 (the console's
        # key fuzz: stop, continue, then ps); a snapshot may land before the next heartbeat.
        step = max(step, _stored_step(attrs, step))
    return LiveRun(store, attrs.get("name") or info.get("name") or store.stem, status,
                   int(info["pid"]) if info.get("pid") is not None else None, info.get("host", ""),
                   step, int(attrs.get("total_steps") or info.get("total") or 0),
                   float(rate) if rate is not None else math.nan, dyn, eta, tags_of(attrs),
                   next((n.get("text", "") for n in reversed(notes_of(attrs)) if n.get("text")), ""),
                   info.get("device") or attrs.get("device") or "", _gpu(info, attrs, alive))


def _gpu(info: dict, attrs: dict, alive: bool) -> dict | None:
    gpu = info.get("gpu") or attrs.get("gpu")
    if not gpu:
        return None
    used = info.get("gpu_memory_bytes") if alive else None
    return {**gpu, "memory_allocated_bytes": used}


def _writes(store: Path, info: dict | None, stored: str | None) -> bool:
    """Whether the process of process.json already writes the store: it holds the writer's lock and
    the store says running.  Its heartbeat may still say "starting" for up to HEARTBEAT_S after its
    first step (a hang-up test read starting while the store's step grew)."""
    if stored != "running" or not info:
        return False
    owner = store_lock.lock_owner(store)
    return owner is not None and owner.get("pid") == info.get("pid") and owner.get("host") == info.get("host")


def _last_dynamics(attrs: dict) -> DynamicsConfig | None:
    changes = codec.switches(attrs.get("events", []))
    return changes[-1].new if changes else None


def _stored_step(attrs: dict, fallback: int) -> int:
    events = attrs.get("events") or []
    steps = [int(e.get("step", 0)) for e in events]
    grid = attrs.get("snapshot_grid") or []
    n = int(attrs.get("n_snapshots", 0) or 0)
    if n and len(grid) >= n:
        steps.append(int(grid[n - 1]))
    return max(steps, default=fallback)


def is_store(path: str | Path) -> bool:
    """A run's store (its zarr.json), or a detached run's name whose store is not written yet."""
    path = Path(path)
    return (path / "zarr.json").is_file() or (path.name.endswith(".zarr") and control_dir(path).is_dir())


def candidates(out_dir: str | Path) -> list[Path]:
    """Every store directly under out_dir, and every control folder whose store is not there yet; out_dir
    itself when it is a store.  A store reached twice (`latest.zarr -> X.zarr` beside X.zarr) is listed
    once, under its own name."""
    out = Path(out_dir)
    if is_store(out):
        return [out]
    if not out.is_dir():
        return []
    stores = set(out.glob("*.zarr"))
    stores |= {p.with_name(p.name[: -len(SUFFIX)]) for p in out.glob(f"*.zarr{SUFFIX}")}
    seen: dict[Path, Path] = {}
    for p in sorted(stores, key=lambda p: (p.is_symlink(), str(p))):  # real names before links
        seen.setdefault(store_lock.resolved(p), p)
    return sorted(seen.values())


def find(dirs: list[str | Path], *, all_runs: bool = False) -> list[LiveRun]:
    """The runs under `dirs` (or named by them) that are live, stale or failed to start (every run with
    all_runs), newest first; each store once, however many of `dirs` reach it."""
    rows, seen = [], set()
    for d in dirs:
        named = is_store(d)  # a store asked for by name is shown whatever its status
        for store in candidates(d):
            if store_lock.resolved(store) in seen:
                continue
            seen.add(store_lock.resolved(store))
            row = describe(store)
            if all_runs or named or row.alive or row.status in ("stale", "failed"):
                rows.append(row)
    return sorted(rows, key=lambda r: _mtime(r.store), reverse=True)


def _mtime(p: Path) -> float:
    for q in (p, control_dir(p)):
        try:
            return q.stat().st_mtime
        except OSError:
            continue
    return 0.0
