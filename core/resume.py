"""Continue an interrupted or killed run from its last complete snapshot, in the same store.

The resumed run is the run that would have happened: w comes from the last
committed snapshot, everything else (momentum, RNG states, the minibatch
permutation and position, the dynamics, buffers) from the state committed with
it (core/checkpoint.py).  On CPU the weights at every later snapshot are then
bitwise identical to an uninterrupted run (tests/test_resume.py).
"""

from __future__ import annotations

from pathlib import Path

from . import checkpoint, presets, trajectory
from .errors import BadInput
from .run import Run
from .schedule import log_grid


def prepare(path: str | Path, *, steps: int | None = None, data_dir: str | None = None,
            download: bool = False) -> tuple[Run, Path]:
    """A Run restored at the store's last snapshot, and the writer lock now held for it."""
    path = Path(path)
    root = trajectory.open_group(path, mode="r")
    attrs = dict(root.attrs)
    lock = checkpoint.acquire(path)  # refuses while a live writer holds the store
    try:
        status, n, point = attrs.get("status"), int(attrs.get("n_snapshots", 0)), attrs.get("resume")
        if status == "diverged":
            raise BadInput(f"{path} diverged at step {attrs['events'][-1]['step']}: resuming would diverge again; "
                           "start a new run with a smaller dynamics.lr")
        if n == 0 or not point:
            raise BadInput(f"{path} has no complete snapshot to resume from: start the run again")
        preset = presets.from_stored(attrs["preset"])
        if steps is not None:
            if steps <= int(point["step"]):
                raise BadInput(f"--steps {steps} is not beyond the last snapshot (step {point['step']}): ask for more steps")
            preset = presets.with_overrides(preset, {"run.steps": steps})
        if status == "finished" and preset.run.steps <= int(point["step"]):
            raise BadInput(f"{path} already finished its {preset.run.steps} steps: pass --steps N with N larger to extend it")
        run = Run(preset, data_dir=data_dir, download=download)
        if run.n_params != int(attrs["n_params"]):
            raise BadInput(f"{path} holds {attrs['n_params']} parameters but its preset builds {run.n_params}: the store does not match this glasslab version")
        run.restore(root["weights"][n - 1], checkpoint.read_slot(root, int(point["slot"])))
        taken = [int(s) for s in root["snapshot_step"][:n]]
        later = [t for t in log_grid(preset.recording.first, preset.run.steps, preset.recording.snapshots) if t > taken[-1]]
        run.snapshot_steps = taken + later
        run.next_snapshot = n
        run.online.waiting = [int(i) for i in attrs.get("waiting_times", [])]
        run.online.restore({i: root["weights"][i] for i in run.online.waiting if i < n})
    except BaseException:
        checkpoint.release(lock)
        raise
    return run, lock
