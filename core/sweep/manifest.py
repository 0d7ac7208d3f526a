"""The sweep directory and its manifest: what was asked, where each point's store is, how it stands.

    SWEEP_DIR/
      sweep.json        the manifest (format glasslab-sweep/1), rewritten atomically
      sweep.json.lock   the lease (filelock) every read-modify-write holds
      points/NNN_AXES.zarr   one ordinary run store per point, at a fixed path
      jobs/             submitit's folder: pickles and each job's log

Manifest keys: format, name, created, source (preset name or file), preset (the
resolved base preset, --set applied), axes {key: [values]}, executor {kind,
parallel, threads, gpus_per_run, cpus_per_run, partition, time_min,
signal_delay_s, slurm_extra}, cancelled (bool), points [{id, overrides, store,
job_id, state, reason, attempts, summary}].

Point states: pending (not submitted), submitted, running, requeued (preempted,
waiting for Slurm to restart it), finished, failed (a reason of its own:
diverged, bad data; not retried), interrupted (stopped by a signal; resumable),
cancelled.  `lost` is not written: `reconcile` reports it for a point the
manifest calls active whose job is gone (killed, node lost).

Jobs on other hosts and the CLI update the manifest concurrently: every update
takes the file lease, reads, changes, and replaces the file with a rename, so a
reader never sees half a manifest and no update is lost.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from glasslab.core.errors import BadInput
from glasslab.core.store.lock import pid_alive

FORMAT = "glasslab-sweep/1"
NAME = "sweep.json"
ACTIVE = ("submitted", "running", "requeued")
DONE = ("finished", "failed")
RESUBMIT = ("pending", "interrupted", "cancelled", "lost")
LEASE_TIMEOUT_S = 60.0


def manifest_path(sweep_dir: str | Path) -> Path:
    return Path(sweep_dir) / NAME


def is_sweep(path: str | Path) -> bool:
    return manifest_path(path).is_file()


@contextmanager
def lease(sweep_dir: str | Path) -> Iterator[None]:
    """Hold the manifest's lock (a lock file beside it; waits up to a minute)."""
    # The real path: two spellings of one sweep (a linked folder) are one lock in this process too.
    lock = FileLock(os.path.realpath(manifest_path(sweep_dir)) + ".lock", timeout=LEASE_TIMEOUT_S)
    try:
        with lock:
            yield
    except Timeout:
        raise BadInput(f"the sweep manifest in {sweep_dir} stayed locked for {LEASE_TIMEOUT_S:.0f} s: "
                       f"is a process stuck holding {lock.lock_file}?") from None


def read(sweep_dir: str | Path) -> dict[str, Any]:
    """The manifest as it was last committed (no lease needed: writes are atomic renames)."""
    path = manifest_path(sweep_dir)
    if not path.is_file():
        raise BadInput(f"{sweep_dir} is not a sweep directory (no {NAME}): give a directory made by glasslab sweep")
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BadInput(f"cannot read {path}: {err}") from None
    if m.get("format") != FORMAT:
        raise BadInput(f"{path} is not a {FORMAT} manifest (format {m.get('format')!r})")
    return m


def _write(sweep_dir: Path, m: dict[str, Any]) -> None:
    path = manifest_path(sweep_dir)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sweep.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(m, f, indent=1, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create(sweep_dir: Path, m: dict[str, Any]) -> None:
    """Write a new manifest; BadInput if the directory already holds a sweep.  The check and the
    write are one step under the lease: of two sweeps started into one directory, one gets it."""
    with lease(sweep_dir):
        if is_sweep(sweep_dir):
            raise BadInput(f"{sweep_dir} already holds a sweep (glasslab sweep status {sweep_dir})")
        (sweep_dir / "points").mkdir(parents=True, exist_ok=True)
        (sweep_dir / "jobs").mkdir(exist_ok=True)
        _write(sweep_dir, {"format": FORMAT, **m})


def update(sweep_dir: str | Path, change: Callable[[dict[str, Any]], Any]) -> Any:
    """Read-modify-write under the lease; `change(manifest)` edits it in place, its result is returned."""
    sweep_dir = Path(sweep_dir)
    with lease(sweep_dir):
        m = read(sweep_dir)
        out = change(m)
        _write(sweep_dir, m)
    return out


def point(m: dict[str, Any], point_id: str) -> dict[str, Any]:
    for p in m["points"]:
        if p["id"] == point_id:
            return p
    raise BadInput(f"no point {point_id} in this sweep")


def set_point(sweep_dir: str | Path, point_id: str, **fields) -> dict[str, Any]:
    """Update one point's fields (state, reason, job_id, ...) under the lease; returns the point."""
    def change(m):
        p = point(m, point_id)
        p.update(fields)
        p["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        return dict(p)

    return update(sweep_dir, change)


# ------------------------------------------------------------------ is the job still there?

def slurm_jobs() -> set[str] | None:
    """The ids of this user's Slurm jobs that still exist (array tasks one by one), or None when
    squeue cannot say.  One call for the whole manifest: squeue fails outright on an id it has purged."""
    if shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-u", str(os.getuid()), "-o", "%i"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.stdout.split()) if out.returncode == 0 else None


def job_alive(job_id: str | None, host: str | None = None, slurm: set[str] | None = None) -> bool | None:
    """Whether a point's job still exists: True, False, or None when this host cannot tell.

    local:PID is a submitit controller process on `host`; anything else is a Slurm job id,
    looked up in `slurm` (slurm_jobs(): pending, running and requeued jobs; a finished one drops out).
    """
    if not job_id:
        return False
    if job_id.startswith("local:"):
        if host and host != socket.gethostname():
            return None
        return pid_alive(int(job_id.split(":", 1)[1]))
    return None if slurm is None else job_id in slurm


def reconcile(m: dict[str, Any]) -> dict[str, Any]:
    """The manifest with `lost` in place of active states whose job is gone (nothing is written)."""
    active = [p for p in m["points"] if p["state"] in ACTIVE]
    slurm = slurm_jobs() if any(p.get("job_id") and not p["job_id"].startswith("local:") for p in active) else None
    for p in active:
        if job_alive(p.get("job_id"), p.get("host"), slurm) is False:
            p["state"], p["reason"] = "lost", f"job {p.get('job_id')} is gone without a result (killed, or cancelled outside glasslab?)"
    return m
