"""Start a run as a detached process: `glasslab run --no-ui` in its own session, output to a log kept with it.

The console and `glasslab run PRESET --detach` both start runs here.  The
process is exactly the headless one (tui/cli/run.py train_headless: the writer,
the printer, the control channel, the two-time completion), started with
start_new_session: it is no longer in the terminal's process group, so
closing the console, or the terminal hanging up (SIGHUP on an SSH drop),
does not reach it.  stdin is /dev/null; stdout and stderr go to
RUN.zarr.control/output.log.  The store's path is chosen here, before the
process starts, so the caller can print it and follow it at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from glasslab.core.config import presets
from glasslab.core.config.presets import Preset
from glasslab.core.errors import BadInput
from glasslab.core.runs import control
from glasslab.core.store import lock as store_lock
from glasslab.core.store import paths, reader

LOG = "output.log"
PRESET = "preset.json"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "glasslab.tui.cli", *args]


def _spawn(argv: list[str], store: Path) -> subprocess.Popen:
    log_path = control.control_dir(store) / LOG
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env, cwd=os.getcwd())
    except OSError as err:
        raise BadInput(f"cannot start the run process ({err.strerror})") from None
    finally:
        os.close(fd)


def start(preset: Preset, out_dir: str | Path, *, data_dir: str | None = None,
          download: bool = False) -> tuple[Path, subprocess.Popen]:
    """Start a new run of `preset` under out_dir; returns (its store's path, the process).

    The store appears once the run has loaded its data; until then the
    control folder (with the log) marks the run as starting.  BadInput if
    out_dir cannot be written.
    """
    name = presets.run_name(preset)  # before anything is created
    out = paths.check_out_dir(out_dir)
    store_lock.check_lockable(out)  # no lock possible there: refused here, not after the process reported success
    store = paths.new_run_path(out, name)  # claims the name (its empty directory): two launches, two names
    try:
        control.control_dir(store).mkdir(mode=0o700)
    except OSError as err:
        raise BadInput(f"cannot create {control.control_dir(store)} ({err.strerror}): choose a writable --out") from None
    control.write_json(control.control_dir(store) / PRESET, preset.to_dict())
    return store, _launch("_train", store, preset, data_dir, download)


def _launch(command: str, store: Path, preset: Preset, data_dir: str | None, download: bool,
            extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """`glasslab COMMAND STORE [--data-dir D] [--download] EXTRA...`, detached, announced in process.json."""
    args = [command, str(store), *extra]
    if data_dir:
        args += ["--data-dir", data_dir]
    if download:
        args.append("--download")
    proc = _spawn(_cli(*args), store)
    starting(store, proc.pid, preset)
    return proc


def starting(store: Path, pid: int, preset: Preset) -> None:
    """process.json until the run's control channel takes over: `glasslab ps` and the console see it start."""
    import dataclasses
    import socket

    control.write_json(control.control_dir(store) / "process.json", {
        "pid": pid, "host": socket.gethostname(), "uid": os.getuid(), "store": str(store), "started": time.time(),
        "heartbeat": time.time(), "status": "starting", "step": 0, "total": preset.run.steps, "steps_per_s": None,
        "dynamics": dataclasses.asdict(preset.dynamics), "name": preset.run.name or preset.name})


def resume(store: str | Path, *, data_dir: str | None = None, download: bool = False, steps: int | None = None,
           threads: str | None = None, force: bool = False) -> subprocess.Popen:
    """Continue a stored run from its last snapshot (`glasslab resume STORE`), detached, its log appended.

    What the resume would refuse before training (a live writer, a finished or diverged run, a
    --steps not beyond its saved state) is refused here first (BadInput), with no process started:
    `glasslab resume --detach` reports no success, and the console keeps its display."""
    from glasslab.core.config import presets
    from glasslab.core.runs import resume as resuming

    store = Path(store)
    resuming.check(store, steps=steps, force=force)  # BadInput: not a store, or not resumable now
    preset = presets.from_stored(dict(reader.open_group(store).attrs["preset"]))
    if steps is not None:
        preset = presets.with_overrides(preset, {"run.steps": steps})
    control.make_dir(store)
    extra = (*(("--steps", str(steps)) if steps is not None else ()), *(("--threads", threads) if threads else ()),
             *(("--force",) if force else ()))
    return _launch("resume", store, preset, data_dir, download, extra)


def log_of(store: str | Path) -> Path:
    """A detached run's output: RUN.zarr.control/output.log."""
    return control.control_dir(store) / LOG


def stored_preset(store: str | Path) -> dict:
    """The preset a detached run was started with (written by start())."""
    data = control.read_json(control.control_dir(store) / PRESET)
    if data is None:
        raise BadInput(f"{control.control_dir(store) / PRESET} is missing: start the run with glasslab run")
    return data


def last_error(store: str | Path) -> str:
    """The run's last `glasslab: error: ...` line from its log (how a detached run that failed says why)."""
    try:
        lines = (control.control_dir(store) / LOG).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("glasslab: "):
            return line.removeprefix("glasslab: error: ").removeprefix("glasslab: ")
    return next((ln for ln in reversed(lines) if ln.strip()), "")

