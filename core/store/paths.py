"""Where run stores go: the output directory, and a new store's name, claimed atomically."""

from __future__ import annotations

import os
from pathlib import Path

from glasslab.core.errors import BadInput

CONTROL_SUFFIX = ".control"  # RUN.zarr.control beside a store (core/runs/control.py) also claims its name


def new_run_path(out_dir: str | Path, name: str, now=None) -> Path:
    """out_dir/NAME-YYYYmmdd-HHMMSS.zarr, with -2, -3 ... if that is taken; the store's (empty) directory
    is created here, with mkdir, which only one process can do: two runs started in the same second
    into one directory get two names.  A name whose control folder exists (a detached run still
    loading its data) is taken too."""
    import datetime as _dt

    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(out_dir) / f"{name}-{stamp}"
    path, k = base.with_name(base.name + ".zarr"), 2
    while True:
        if not path.with_name(path.name + CONTROL_SUFFIX).exists():
            try:
                os.mkdir(path)
                return path
            except FileExistsError:
                pass
            except OSError as err:
                raise BadInput(f"cannot create {path} ({err.strerror}): choose a writable --out") from None
        path, k = base.with_name(f"{base.name}-{k}.zarr"), k + 1


def release_claim(path: str | Path) -> None:
    """Give back a name new_run_path claimed when nothing was written into it (a run that could not
    start: its data missing, say).  os.rmdir removes an empty directory only: a store is never lost."""
    try:
        os.rmdir(path)
    except OSError:
        pass


def discard_unusable(path: str | Path) -> None:
    """Remove a store killed before its first committed snapshot (nothing in it can be resumed), and
    its lock file, so that its point starts again under the same name (core/sweep/job.py)."""
    import shutil

    from glasslab.core.store import lock as store_lock

    shutil.rmtree(path, ignore_errors=True)
    store_lock.lock_path(path).unlink(missing_ok=True)


def check_out_dir(out_dir: str | Path) -> Path:
    """The output directory, created if missing; BadInput if it cannot be written."""
    import os

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file, not a directory: choose a directory for the runs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create the output directory {out} ({err.strerror}): choose a writable --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise BadInput(f"the output directory {out} is not writable: choose a writable --out")
    return out
