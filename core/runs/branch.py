"""Branches of a stored run: the noise-off control and replicas, continued from its snapshots.

At a snapshot t_w of a run (the parent), `glasslab control` continues copies of the
same weights on the same data with the same learning rate and momentum:

    noise-off    the parent's dynamics with its noise removed: SGD -> full-batch GD,
                 Langevin -> temperature 0 with a full-batch drift;
    noise-on     the parent's dynamics as it was at t_w (dynamics switches included);
    replica-k    noise-on with another seed: only the minibatch order (or the Langevin
                 noise) differs.

Every branch draws fresh randomness, from a seed derived from the parent's, t_w and the
replica index: never the parent's own stream, whose first draws built w(t_w).  Reusing it
correlates a branch's noise with its starting point (measured on a harmonic Langevin run:
Delta at lag 1 came out 14 standard deviations low).

Each branch is an ordinary run store (run.init_from = the parent, run.init_step = t_w),
in RUN.controls/ beside the parent, named tw{t_w}-{role}.zarr; its steps count the lag
t since t_w.  core/analysis/controls.py compares them (docs/science.md, "Controls").
Every branch starts with a zero momentum buffer, the same for all of them, so the
comparison is fair even though the parent's buffer at t_w is not stored.

`--replicas-only` leaves out the noise-off branch: noise-on and the replicas, all the same
dynamics from the same weights with independent noise, measure the replicas' spreading
Delta_AB(t_w, t) (core/analysis/replicas.py), the test of diffusion, at SGD's cost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from glasslab.core.config import dynamics, presets
from glasslab.core.errors import BadInput
from glasslab.core.store import codec
from glasslab.core.store.reader import Trajectory

ROLES = ("noise-off", "noise-on")
_BRANCH = re.compile(r"tw(\d+)-(noise-off|noise-on|replica-\d+)\.zarr")


@dataclass(frozen=True)
class Branch:
    """One branch to train: its role, the parent's snapshot step t_w, its preset and its store."""

    role: str
    tw: int
    preset: presets.Preset
    path: Path

    @property
    def done(self) -> bool:
        """Its store is there, finished, and as long as asked (a second `glasslab control` with the same
        length leaves it as it is; another --steps trains it again: branches are short)."""
        try:
            t = Trajectory.open(self.path)
        except BadInput:
            return False
        return t.status == "finished" and int(t.preset.get("run", {}).get("steps", -1)) == self.preset.run.steps


def controls_dir(store: str | Path) -> Path:
    """RUN.controls/ beside RUN.zarr."""
    store = Path(str(store).rstrip("/"))
    return store.with_name(store.name.removesuffix(".zarr") + ".controls")


def parse_name(path: Path) -> tuple[int, str] | None:
    """(t_w, role) of a branch store's name, or None for anything else."""
    m = _BRANCH.fullmatch(path.name)
    return (int(m.group(1)), m.group(2)) if m else None


def default_waiting_times(steps: list[int], total: int) -> list[int]:
    """Three snapshots spread in log time: the ones nearest to total/100, total/10 and total/2."""
    usable = [s for s in steps if s > 0]
    picks = []
    for target in (total / 100, total / 10, total / 2):
        best = min(usable, key=lambda s: abs(s - target))
        if best not in picks:
            picks.append(best)
    return picks


def nearest_snapshot(steps: list[int], at: int) -> int:
    """The snapshot step closest to `at` (BadInput past the last committed one)."""
    if at < 0 or at > steps[-1]:
        raise BadInput(f"--at {at:,} lies outside the run's snapshots (0 to {steps[-1]:,}): give a step within them")
    return min(steps, key=lambda s: (abs(s - at), s))


def branch_seed(seed: int, tw: int, replica: int) -> int:
    """A branch's run.seed: independent of the parent's stream and of every other branch's."""
    return (seed * 1_000_003 + (tw + 1) * 7_919 + replica * 104_729 + 1) % 2**31


def branch_recording(rec: presets.RecordingConfig, dyn: presets.DynamicsConfig,
                     train_size: int) -> presets.RecordingConfig:
    """A branch's recording: its weights are all the analysis reads, so no D and no online t_w; under SGD
    also a snapshot every half epoch, so Delta_AB is read at whole epochs (where reshuffling has cancelled
    the minibatch noise of each epoch) and half way between them."""
    epoch = dynamics.steps_per_epoch(dyn, train_size)
    every = max(1, epoch // 2) if epoch else 0
    return dataclasses.replace(rec, d_every=0, waiting_times=0, every=every)


def plan(store: str | Path, *, at: list[int] | None = None, steps: int | None = None, replicas: int = 1,
         out: str | Path | None = None, noise_off_branch: bool = True) -> list[Branch]:
    """The branches `glasslab control` trains: noise-off, noise-on and `replicas` replicas per t_w.

    noise_off_branch=False leaves out the full-batch noise-off branch (the costly one: a GD step costs
    P / B SGD steps): noise-on and the replicas alone measure the replicas' spreading, which needs at
    least two of them (replicas >= 1).

    at: steps of the parent (each moved to its nearest snapshot; default three, see
    default_waiting_times); steps: the length of every branch (default t_w, the lags t <= t_w over
    which Delta/D(t_w) means something, but at least 100 and, under SGD, 4 epochs: the minibatch
    noise cancels over each whole epoch, core/analysis/controls.py).  Every branch records by
    branch_recording.  Raises BadInput for a store that is not a
    finished or interrupted run, a step outside it, or a run with no noise to switch off.
    """
    store = Path(str(store).rstrip("/"))
    parent = Trajectory.open(store)
    snap_steps = [int(s) for s in parent.steps]
    if len(snap_steps) < 2:
        raise BadInput(f"{store} has {len(snap_steps)} snapshot(s): let the run go further before branching it")
    if replicas < 0:
        raise BadInput(f"--replicas {replicas} must be 0 or more")
    if not noise_off_branch and replicas < 1:
        raise BadInput("--replicas-only needs --replicas 1 or more: the spreading is read between noise-on and "
                       "at least one replica")
    if steps is not None and steps < 1:
        raise BadInput(f"--steps {steps} must be at least 1")
    total = int(parent.attrs.get("total_steps", snap_steps[-1]))
    tws = sorted({nearest_snapshot(snap_steps, a) for a in at}) if at else default_waiting_times(snap_steps, total)
    if 0 in tws:
        raise BadInput("--at 0 is the initialisation: branch at a later snapshot (the control asks how a trained "
                       "network moves)")
    base = presets.from_stored(parent.preset)
    out_dir = Path(out) if out is not None else controls_dir(store)
    branches = []
    for tw in tws:
        on = codec.dynamics_after(parent.events, tw) or base.dynamics
        epochs4 = 4 * (dynamics.steps_per_epoch(on, int(parent.attrs.get("train_size", 0))) or 0)
        length = steps if steps is not None else max(tw, 100, epochs4)
        off = dynamics.noise_off(on)  # also refuses a run without noise, whose replicas could not spread
        roles = [("noise-off", off, branch_seed(base.run.seed, tw, 0))] if noise_off_branch else []
        roles += [("noise-on", on, branch_seed(base.run.seed, tw, 0))]
        train_size = int(parent.attrs.get("train_size", 0)) or 1
        roles += [(f"replica-{k}", on, branch_seed(base.run.seed, tw, k)) for k in range(1, replicas + 1)]
        for role, dyn, seed in roles:
            p = base.replace(dynamics=dyn, recording=branch_recording(base.recording, on, train_size), run=dataclasses.replace(
                base.run, seed=seed, steps=length, init_from=str(store.resolve()), init_step=tw,
                name=f"{base.run.name or base.name}-tw{tw}-{role}"))
            presets.check(p)
            branches.append(Branch(role, tw, p, out_dir / f"tw{tw}-{role}.zarr"))
    return branches


@contextlib.contextmanager
def lease(plan: list[Branch]):
    """Hold the branch folders of `plan` for one `glasslab control` at a time.  train() starts a branch
    cut short again by removing its store, so a second control on the same run (same folder) removed
    and rewrote the branches the first was writing ("Directory not empty", a branch no longer a store).
    filelock's lease (flock: no hard links needed), taken without waiting: BadInput, one line, when
    another control holds it."""
    from filelock import FileLock, Timeout

    locks = []
    try:
        for folder in sorted({os.path.realpath(b.path.parent) for b in plan}):
            os.makedirs(folder, exist_ok=True)
            lock = FileLock(os.path.join(folder, ".control.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise BadInput(f"another glasslab control is training branches into {folder}: let it finish "
                               "(its results are kept), or give this one --out elsewhere") from None
            locks.append(lock)
        yield
    finally:
        for lock in reversed(locks):
            lock.release()


def train(b: Branch, *, signals: bool = True):
    """Train one branch into its store (a branch cut short starts again: branches are short);
    returns core.runs.headless.Outcome."""
    import shutil

    from glasslab.core.runs import headless
    from glasslab.core.train.run import Run

    b.path.parent.mkdir(parents=True, exist_ok=True)
    if b.path.exists():
        shutil.rmtree(b.path)
    return headless.train(Run(b.preset), b.path, signals=signals)


def find(store: str | Path, out: str | Path | None = None) -> dict[int, dict[str, Path]]:
    """The branch stores of a run: {t_w: {role: path}}, from RUN.controls/ (or `out`)."""
    folder = Path(out) if out is not None else controls_dir(store)
    found: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.glob("tw*.zarr")) if folder.is_dir() else []:
        parsed = parse_name(path)
        if parsed:
            found.setdefault(parsed[0], {})[parsed[1]] = path
    return dict(sorted(found.items()))
