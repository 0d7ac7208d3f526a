"""The one-writer lock of a run store: a lease that its writer renews, taken over atomically.

`RUN.zarr.lock` beside the store holds {pid, start, host, since, token} and,
under Slurm, {job, restart} (SLURM_JOB_ID, SLURM_RESTART_COUNT).  `start` is
the writer's process start time (/proc/PID/stat field 22), so a pid reused by
a later process does not keep a dead writer's lock; `token` names this one
taking of the lock.  It is created whole (written to a private file, then
hard-linked into place: link fails if the name exists, like O_EXCL, and also
on NFS), and a thread of its process touches it every RENEW_S seconds.

File systems without hard links (exFAT/vfat, some SMB mounts: EPERM; virtiofs,
some FUSE mounts and gateways: ENOTSUP/ENOSYS) get the same lock published by
an exclusive create (O_CREAT | O_EXCL, atomic on every POSIX file system and on
NFSv3+) and written in place, filelock's marker-lock idea (MarkerSoftFileLock):
for a moment the lock exists but is empty or half written.  Such a lock counts
as held while it changes; one that stays unreadable for MALFORMED_S seconds of
this host's own clock (its writer died between create and write) is stale, and
its takeover also compares the file's identity (inode, mtime), as the text of
an empty lock names no one.  Where even the exclusive create is refused, the
run is refused at once, in one line, before its data is loaded.

The lock is live while
- its process runs (same pid and start time), when it was taken on this host;
- its lease is renewed, when it was taken on another host.  Two hosts' clocks
  are never compared: a lease that looks older than LEASE_S by this host's
  clock is watched for LEASE_S of this host's own time (monotonic) and taken
  over only if its modification time and content never changed meanwhile;
and it is taken over at once when it belongs to an earlier instance of this
Slurm job (a requeued job keeps its id, counts up SLURM_RESTART_COUNT, and may
land on another node; Slurm runs one instance of a job at a time).
`force=True` (`glasslab resume --force`) takes any lock.

Taking over is atomic: the lock judged stale is renamed aside and compared with
what was judged; if another process took the lock over in between, its lock is
put back and this one loses.  The holder fences its writes: `held_by_other`
before each commit says whether the lock is still its own (core/store/writer.py).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from glasslab.core.errors import BadInput

LOCK_SUFFIX = ".lock"  # RUN.zarr.lock beside the store: zarr would warn about a stray file inside it
LEASE_S = 180.0  # a lock from another host not renewed for this long (watched by this host's clock) is stale
RENEW_S = 20.0  # how often the holder renews it (well inside the lease, even on a slow file system)
WATCH_POLL_S = 2.0  # how often a takeover looks at a lease it is watching
MALFORMED_S = 10.0  # an unreadable lock unchanged this long (this host's clock) was left half-created
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
# link(2) refused by a file system that has no hard links (never "read-only": the directory is writable).
NO_HARD_LINKS = frozenset(e for e in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS))

_renewers: dict[Path, threading.Event] = {}  # lock path -> the event that stops its renewer
_held: dict[Path, str] = {}  # lock path -> the token of our lock there

# The clocks and the host name, through names that tests replace (a fake clock, a fake host).
_wall = time.time
_monotonic = time.monotonic
_sleep = time.sleep


def _host() -> str:
    return socket.gethostname()


def _judged_stale(lock: Path) -> None:
    """Test hook: called between judging a lock stale and taking it over (tests pause here)."""


class StoreReadOnly(BadInput):
    """The lock cannot be created: the store's directory is read-only."""


def resolved(path: str | Path) -> Path:
    """The store's real path, every symlink followed (the parts that exist): the one name its lock,
    its control folder and the live-run lookup are found from, however the user reached it
    (`latest.zarr -> runs/X.zarr`, a linked runs/ folder).  Two spellings, one store, one writer."""
    return Path(os.path.realpath(path))


def lock_path(path: Path) -> Path:
    path = resolved(path)
    return path.with_name(path.name + LOCK_SUFFIX)


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (/proc/PID/stat field 22), or None
    when there is no such process or no /proc.  With the pid it names one process for good."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])  # fields after ')' start at field 3
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Is there a process `pid` here that has not exited (a zombie, exited but not yet reaped by its
    parent, counts as gone)?  With `start` (process_start when it was recorded), a later process that
    got the same pid counts as gone too.  The one answer for the lock, live runs (core/runs/live.py)
    and a sweep's local controllers (core/sweep/manifest.py)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is all we know
    if fields[0] == "Z":
        return False
    return start is None or int(fields[19]) == int(start)


def _me(token: str) -> dict:
    pid = os.getpid()
    me = {"pid": pid, "start": process_start(pid), "host": _host(), "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
          "token": token}
    if os.environ.get("SLURM_JOB_ID"):
        me["job"] = os.environ["SLURM_JOB_ID"]
        me["restart"] = _restart_count()
    return me


def _restart_count() -> int:
    count = os.environ.get("SLURM_RESTART_COUNT", "0")
    return int(count) if count.isdigit() else 0


def _peek(lock: Path) -> tuple[str, dict | None, tuple[int, int, int]] | None:
    """(text, owner or None when the text is no lock yet, (inode, mtime_ns, size)) of the lock file now;
    None when there is none."""
    try:
        with open(lock) as f:
            text = f.read()
            st = os.fstat(f.fileno())
    except OSError:
        return None
    try:
        owner = json.loads(text)
    except ValueError:
        owner = None
    return text, owner if isinstance(owner, dict) else None, (st.st_ino, st.st_mtime_ns, st.st_size)


def _read(lock: Path) -> tuple[str, dict, int] | None:
    """(text, owner, mtime_ns) of the lock file now, or None when there is none (or it is not a lock)."""
    seen = _peek(lock)
    if seen is None or seen[1] is None:
        return None
    return seen[0], seen[1], seen[2][1]


def _live_here(owner: dict) -> bool:
    return pid_alive(int(owner.get("pid", -1)), owner.get("start"))


def lock_owner(path: Path, *, now: float | None = None) -> dict | None:
    """The live-looking writer of a store ({pid, host, job?, since, age_s}), or None (no lock, or a stale one).

    For another host's lock the age is by this host's clock: a hint (ps, analyze) that never
    decides a takeover alone (acquire watches the lease first)."""
    read = _read(lock_path(path))
    if read is None:
        return None
    _, owner, mtime = read
    owner["age_s"] = (_wall() if now is None else now) - mtime / 1e9
    if owner.get("host") == _host():
        return owner if _live_here(owner) else None
    return owner if owner["age_s"] < LEASE_S else None


def refuse_if_held(path: Path) -> None:
    """BadInput (the line acquire would give) while a live-looking writer holds the store; never waits.
    For a process that will take the lock in another process (a detached resume) and must refuse first."""
    owner = lock_owner(path)
    if owner is not None:
        why = ("and that process is running" if owner.get("host") == _host()
               else f"its lease renewed {owner['age_s']:.0f} s ago")
        raise _busy(Path(path), owner, why)


def _ours(owner: dict) -> bool:
    """The lock of an earlier instance of this Slurm job (before a requeue, perhaps on another node)."""
    job = os.environ.get("SLURM_JOB_ID")
    return bool(job) and owner.get("job") == job and int(owner.get("restart", 0)) < _restart_count()


def _busy(path: Path, owner: dict, why: str) -> BadInput:
    where = f"on {owner.get('host')}" + (f" (Slurm job {owner['job']})" if owner.get("job") else "")
    return BadInput(f"{path} is being written by pid {owner.get('pid')} {where} since {owner.get('since')}, "
                    f"{why}: wait for it, or if that writer is gone, glasslab resume --force")


def _judge(path: Path, lock: Path, force: bool,
           notify: Callable[[str], None] | None) -> tuple[str, tuple[int, int, int] | None] | None:
    """(the text of the lock there, its identity when the text names no one) if it is stale (or forced,
    or this Slurm job's own); None if it is gone or changed meanwhile (try again).  Raises BadInput
    while its writer is live."""
    seen = _peek(lock)
    if seen is None:
        return None
    if seen[1] is None:  # created by an exclusive create, not written yet (or its writer died there)
        return (seen[0], seen[2]) if force or _unchanged(lock, seen, MALFORMED_S) else None
    text, owner, mtime = seen[0], seen[1], seen[2][1]
    if force or _ours(owner):
        return text, None
    if owner.get("host") == _host():
        if _live_here(owner):
            raise _busy(path, owner, "and that process is running") from None
        return text, None
    age = _wall() - mtime / 1e9
    if age < LEASE_S:
        raise _busy(path, owner, f"its lease renewed {age:.0f} s ago") from None
    # Old by this host's clock: the other host's clock may differ.  Watch the lease by our own clock.
    if notify:
        notify(f"the lock of pid {owner.get('pid')} on {owner.get('host')} looks stale: watching its lease "
               f"for {LEASE_S:.0f} s before taking it over")
    end = _monotonic() + LEASE_S
    while _monotonic() < end:
        _sleep(WATCH_POLL_S)
        now = _read(lock)
        if now is None or now[0] != text:
            return None  # gone or taken over by someone else: look again
        if now[2] != mtime:
            raise _busy(path, owner, "its lease renewed while this host watched it") from None
    return text, None


def _unchanged(lock: Path, seen: tuple, for_s: float) -> bool:
    """Whether the lock stays exactly as `seen` (text and identity) for `for_s` s of this host's clock."""
    end = _monotonic() + for_s
    while _monotonic() < end:
        _sleep(min(WATCH_POLL_S, for_s / 4))
        if _peek(lock) != seen:
            return False  # written (a live writer), or gone: look again
    return True


def _take_over(lock: Path, judged: str, identity: tuple[int, int, int] | None = None) -> None:
    """Remove the lock only if it is still the one judged stale: rename it aside (atomic, only one
    process can), compare (the text; and the identity for a lock whose text names no one), and put
    back a lock that someone else took over meanwhile."""
    aside = lock.with_name(f"{lock.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.stale")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return
    try:
        moved = _peek(aside)
        if moved is None or moved[0] != judged or (identity is not None and moved[2] != identity):
            _put_back(aside, lock)  # not ours to remove: give it back (unless a newer one is there)
    finally:
        aside.unlink(missing_ok=True)


def _put_back(aside: Path, lock: Path) -> None:
    try:
        os.link(aside, lock)
    except (FileExistsError, FileNotFoundError):
        pass
    except OSError as err:
        if err.errno not in NO_HARD_LINKS:
            raise
        try:  # no hard links: a copy, created exclusively (its holder's token, so its fencing holds)
            _publish(lock, aside.read_bytes())
        except (FileExistsError, OSError):
            pass


def _create(lock: Path, token: str) -> bool:
    """Create the lock whole: False if one is there.  StoreReadOnly if the directory is not writable;
    BadInput (one line) if this file system allows no safe lock."""
    tmp = lock.with_name(f".{lock.name}.{os.getpid()}-{token[:8]}.new")
    data = json.dumps(_me(token)).encode()
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, lock)
        except FileExistsError:
            return False
        except OSError as err:
            if err.errno not in NO_HARD_LINKS:
                raise
            return _create_exclusive(lock, data, f"link: {os.strerror(err.errno)}")
    except OSError as err:
        if err.errno in READ_ONLY:
            raise StoreReadOnly(f"cannot write beside {lock.parent / lock.name[:-len(LOCK_SUFFIX)]} "
                                f"({os.strerror(err.errno)}): the store is read-only here") from None
        raise
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return True


def check_lockable(directory: str | Path) -> None:
    """BadInput (one line) when no store lock can be made in `directory` (or, until it exists, its nearest
    existing parent): asked before a run loads its data, so such a file system refuses the run at once
    instead of after training starts.  A read-only directory is left to the caller's own check."""
    d = resolved(directory)
    while not d.exists() and d != d.parent:
        d = d.parent
    probe = d / f".glasslab-{os.getpid()}-{uuid.uuid4().hex[:8]}.probe{LOCK_SUFFIX}"
    try:
        if d.is_dir() and _create(probe, uuid.uuid4().hex):  # BadInput: no hard links, no exclusive create
            probe.unlink(missing_ok=True)
    except (StoreReadOnly, OSError):  # not a folder, read-only, full: said better where the folder is made
        pass


def _create_exclusive(lock: Path, data: bytes, why: str) -> bool:
    """The lock by an exclusive create, on a file system without hard links (`why`: link's refusal)."""
    try:
        _publish(lock, data)
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno in (errno.EROFS, errno.EACCES):
            raise
        raise BadInput(f"cannot lock {lock.parent / lock.name[:-len(LOCK_SUFFIX)]}: this file system has no hard "
                       f"links ({why}) and refuses an exclusive create ({os.strerror(err.errno)}), so two writers "
                       "could not be kept apart: put the runs on another file system (--out)") from None
    return True


def _publish(lock: Path, data: bytes) -> None:
    """Create `lock` exclusively (FileExistsError if it is there) and write `data` into it; a write that
    fails removes the file again (only if it is still the one created here)."""
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(lock), os.fstat(fd)):
                os.unlink(lock)
        raise
    finally:
        os.close(fd)


def acquire(path: Path, *, force: bool = False, notify: Callable[[str], None] | None = None) -> Path:
    """Take the store's writer lock and start renewing its lease.

    Raises BadInput if a live writer holds it (unless force, or it is this Slurm job's own), and
    StoreReadOnly if the lock cannot be written.  notify(line): told when a takeover must wait.
    """
    lock = lock_path(path)
    for _ in range(5):
        token = uuid.uuid4().hex
        if not _create(lock, token):
            judged = _judge(path, lock, force, notify)
            if judged is not None:
                _judged_stale(lock)
                _take_over(lock, *judged)
            continue
        read = _read(lock)
        if read is None or read[1].get("token") != token:  # removed by a forced takeover meanwhile
            continue
        _held[lock] = token
        _start_renewing(lock, token)
        return lock
    raise BadInput(f"could not take the lock {lock}: other processes are racing for it; try again")


def held_by_other(lock: Path) -> dict | None:
    """None while the lock is still the one this process took; otherwise its holder now ({} if none).
    The writer asks before each commit (fencing): one small read."""
    read = _read(lock)
    if read is not None and read[1].get("token") == _held.get(lock):
        return None
    return read[1] if read is not None else {}


def _start_renewing(lock: Path, token: str) -> None:
    stop = threading.Event()
    _renewers[lock] = stop

    def renew() -> None:
        while not stop.wait(RENEW_S):
            read = _read(lock)
            if read is None or read[1].get("token") != token:
                return  # taken over (--force, or it went stale): not ours to renew
            try:
                os.utime(lock)  # times=None: on NFS the server's clock sets it
            except OSError:
                return

    threading.Thread(target=renew, name="glasslab-lease", daemon=True).start()


def release(lock: Path | None) -> None:
    """Stop renewing and remove the lock, if this process still holds it."""
    if lock is None:
        return
    stop = _renewers.pop(lock, None)
    if stop is not None:
        stop.set()
    token = _held.pop(lock, None)
    read = _read(lock)
    if token is not None and read is not None and read[1].get("token") == token:
        _take_over(lock, read[0])  # removes it only if it is still ours
