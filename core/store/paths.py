"""Where run stores go: the output directory and a new store's name."""

from __future__ import annotations

from pathlib import Path

from glasslab.core.errors import BadInput


def new_run_path(out_dir: str | Path, name: str, now=None) -> Path:
    """out_dir/NAME-YYYYmmdd-HHMMSS.zarr, with -2, -3 ... if that exists; nothing is created."""
    import datetime as _dt

    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(out_dir) / f"{name}-{stamp}"
    path, k = base.with_name(base.name + ".zarr"), 2
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}.zarr"), k + 1
    return path


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
