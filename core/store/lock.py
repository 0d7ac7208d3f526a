"""The one-writer lock of a run store: a lease that its writer renews.

`RUN.zarr.lock` beside the store holds {pid, host, since} and, under Slurm,
{job, restart} (SLURM_JOB_ID, SLURM_RESTART_COUNT).
While a writer holds it, a thread of its process touches the file every
RENEW_S seconds; the file's modification time is the lease.  The lock is live
while
- its process runs, when it was taken on this host (a dead pid frees it at once);
- its lease is younger than LEASE_S, when it was taken on another host (a
  process there cannot be asked; on a shared file system the server sets the
  time, so the hosts' clocks need not agree);
and it is taken over at once when it belongs to an earlier instance of this
Slurm job (a requeued job keeps its id, counts up SLURM_RESTART_COUNT, and may
land on another node; Slurm runs one instance of a job at a time).  `force=True` (`glasslab resume --force`) takes any lock:
for a writer known to be gone whose lease has not run out yet.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from glasslab.core.errors import BadInput

LOCK_SUFFIX = ".lock"  # RUN.zarr.lock beside the store: zarr would warn about a stray file inside it
LEASE_S = 180.0  # a lock from another host not renewed for this long is stale
RENEW_S = 20.0  # how often the holder renews it (well inside the lease, even on a slow file system)

_renewers: dict[Path, threading.Event] = {}  # lock path -> the event that stops its renewer


def lock_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + LOCK_SUFFIX)


def pid_alive(pid: int) -> bool:
    """Is there a process `pid` here that has not exited (a zombie, exited but not yet reaped by its
    parent, counts as gone)?  The one answer for the lock, live runs (core/runs/live.py) and a sweep's
    local controllers (core/sweep/manifest.py)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is all we know


def _me() -> dict:
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if os.environ.get("SLURM_JOB_ID"):
        me["job"] = os.environ["SLURM_JOB_ID"]
        me["restart"] = _restart_count()
    return me


def _restart_count() -> int:
    count = os.environ.get("SLURM_RESTART_COUNT", "0")
    return int(count) if count.isdigit() else 0


def lock_owner(path: Path, *, now: float | None = None) -> dict | None:
    """The live writer of a store ({pid, host, job?, since, age_s}), or None (no lock, or a stale one)."""
    lock = lock_path(path)
    try:
        owner = json.loads(lock.read_text())
        age = (time.time() if now is None else now) - lock.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not isinstance(owner, dict):
        return None
    owner["age_s"] = age
    if owner.get("host") == socket.gethostname():
        return owner if pid_alive(int(owner.get("pid", -1))) else None
    return owner if age < LEASE_S else None


def _ours(owner: dict) -> bool:
    """The lock of an earlier instance of this Slurm job (before a requeue, perhaps on another node)."""
    job = os.environ.get("SLURM_JOB_ID")
    return bool(job) and owner.get("job") == job and int(owner.get("restart", 0)) < _restart_count()


def acquire(path: Path, *, force: bool = False) -> Path:
    """Take the store's writer lock and start renewing its lease.

    Raises BadInput if a live writer holds it (unless force, or it is this Slurm job's own).
    """
    lock = lock_path(path)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = lock_owner(path)
            if owner is not None and not force and not _ours(owner):
                where = f"on {owner.get('host')}" + (f" (Slurm job {owner['job']})" if owner.get("job") else "")
                renewed = f"its lease renewed {owner['age_s']:.0f} s ago" if owner.get("host") != socket.gethostname() \
                    else "and that process is running"
                raise BadInput(f"{path} is being written by pid {owner.get('pid')} {where} since {owner.get('since')}, "
                               f"{renewed}: wait for it, or if that writer is gone, glasslab resume --force") from None
            lock.unlink(missing_ok=True)  # stale, ours, or forced
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(_me(), f)
        _start_renewing(lock)
        return lock
    raise BadInput(f"could not take the lock {lock}: another process is racing for it")


def _start_renewing(lock: Path) -> None:
    stop = threading.Event()
    _renewers[lock] = stop
    pid = os.getpid()

    def renew() -> None:
        while not stop.wait(RENEW_S):
            try:
                if json.loads(lock.read_text()).get("pid") != pid:
                    return  # taken over (--force): not ours to renew
                os.utime(lock)  # times=None: on NFS the server's clock sets it
            except (OSError, ValueError):
                return

    threading.Thread(target=renew, name="glasslab-lease", daemon=True).start()


def release(lock: Path | None) -> None:
    """Stop renewing and remove the lock, if this process still holds it."""
    if lock is None:
        return
    stop = _renewers.pop(lock, None)
    if stop is not None:
        stop.set()
    try:
        owner = json.loads(lock.read_text())
        if owner.get("pid") == os.getpid():
            lock.unlink()
    except (OSError, ValueError):
        pass
