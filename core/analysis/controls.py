"""Drift or diffusion: a run's noise-off control and its replicas, compared (docs/science.md, "Controls").

For each waiting time t_w that `glasslab control` branched (core/runs/branch.py), all
from the same weights w(t_w), over the lag t since t_w:

    Delta_off(t) = (1/N) |w_off(t_w + t) - w(t_w)|^2        the noise-off control (GD, T = 0)
    Delta_on(t)  = (1/N) |w_on(t_w + t) - w(t_w)|^2         the run's own dynamics
    R(t)         = Delta_on(t) / Delta_off(t)
    Delta_AB(t)  = (1/N) |w_on(t_w + t) - w_k(t_w + t)|^2   two replicas (the standard glass
                                                             distance between replicas)

Per parameter, float64 from the stored float32 weights.  R ~ 1 at every lag means the
motion is deterministic drift, which the noise does not change; R >> 1 means the noise
drives it.  Under SGD with epoch shuffling every sample is seen once an epoch (P / B
steps), so the minibatch noise cancels over each whole epoch to first order: R and
Delta_AB dip back towards 1 and 0 at lags of one epoch (measured: R = 1.01 at lag 200 =
one epoch, P = 20,000, B = 100, after R = 2-4 at lags 10-50).  So for SGD only lags of
at least one epoch count, and a branch shorter than two epochs is "undecided".  The
verdict reads R over the late half of those lags (in log t):

    noise-driven   median R >= NOISE_DRIVEN_R = 2: the noise adds at least as much as the drift;
    drift          median R <  DRIFT_R = 1.25: the noise adds under a quarter (an audit measured
                   R = 1.00-1.08 for a toy network at P = 2,000, B = 100, where SGD is GD);
    mixed          in between.

Replicas tell the same story from another side: drift keeps them together
(Delta_AB << Delta_on), noise separates them (independent diffusions give
Delta_AB = 2 Delta_on).  Read-only on the stores.

What R measures: which of drift and noise dominates the displacement over THIS branch
length, not whether the weights diffuse.  The drift's displacement grows like t^2 (measured
t^1.8-1.9 at P = 20,000) and the noise's at most like t, so R -> 1 for any long enough
branch.  The test of diffusion is the replicas' spreading (core/analysis/replicas.py).
Every verdict names its sampler and branch length (Control.branch).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from glasslab.core.analysis import replicas
from glasslab.core.config import dynamics
from glasslab.core.errors import BadInput
from glasslab.core.runs import branch
from glasslab.core.store.reader import Trajectory

NOISE_DRIVEN_R = 2.0
DRIFT_R = 1.25
REPLICAS_APART = 0.5   # Delta_AB / Delta_on at the last lag: the replicas have separated
REPLICAS_TOGETHER = 0.1  # ... below this they stay together


@dataclass
class Control:
    """One waiting time's comparison.  Arrays are over the lags [n_lags], steps since t_w.

    delta_off, delta_on: Delta per parameter (units of w^2); ratio: R = delta_on / delta_off
    (inf where the control does not move); replica_distance: Delta_AB averaged over the
    replicas (empty without replicas); replica_ratio: Delta_AB / Delta_on at the last lag."""

    tw: int
    lags: list[int]
    delta_off: list[float]
    delta_on: list[float]
    ratio: list[float]
    late_ratio: float
    verdict: str
    epoch: int | None = None
    note: str = ""
    replicas: int = 0
    replica_distance: list[float] = field(default_factory=list)
    replica_ratio: float = math.nan
    replicas_read: str = ""
    sampler: str = ""
    branch_steps: int = 0
    branch: str = ""      # "sampler reshuffle, branch 1,000 steps (5 epochs)": every verdict names both

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in asdict(self).items()}


def _json(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, list):
        return [_json(x) for x in v]
    return v


def verdict_of(lags: np.ndarray, ratio: np.ndarray, epoch: int | None = None) -> tuple[float, str, str]:
    """(median R over the late half of the usable lags in log t, the verdict, a note).

    epoch: steps per epoch under SGD with epoch shuffling (lags under one epoch do not count,
    and a branch shorter than two epochs is undecided); None for dynamics without epochs."""
    lags = np.asarray(lags, dtype=np.float64)
    ratio = np.asarray(ratio, dtype=np.float64)
    if epoch:
        if lags[-1] < 2 * epoch:
            return math.nan, "undecided", (
                f"the branch spans {lags[-1] / epoch:.2g} epoch(s): the minibatch noise cancels over each whole "
                f"epoch, so lags under two epochs cannot tell; branch for at least 4 epochs (--steps {4 * epoch})")
        keep = lags >= epoch
        lags, ratio = lags[keep], ratio[keep]
    logs = np.log(lags)
    late = logs >= (logs[0] + logs[-1]) / 2
    r = float(np.median(ratio[late]))
    note = f"lags from one epoch ({epoch:,} steps) on" if epoch else ""
    if r >= NOISE_DRIVEN_R:
        return r, "noise-driven", note
    if r < DRIFT_R:
        return r, "drift", note
    return r, "mixed", note


def epoch_of(t: Trajectory) -> int | None:
    """Steps per epoch of a branch's SGD with reshuffled epochs (ceil(P / B)), where the noise of each
    whole epoch cancels; None for GD, Langevin and minibatches drawn with replacement (no epoch)."""
    if not dynamics.noise_cancels_each_epoch(t.preset.get("dynamics", {})):
        return None
    return dynamics.steps_per_epoch(t.preset.get("dynamics", {}), int(t.attrs.get("train_size", 0)))


def _from_start(t: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """(steps > 0, Delta(0, step)) of a branch store, from its weights (row 0 is w(t_w))."""
    steps = np.asarray(t.steps, dtype=np.int64)
    w0 = np.asarray(t.snapshot(0), dtype=np.float64)
    rows = [float(np.mean((np.asarray(t.snapshot(i), dtype=np.float64) - w0) ** 2)) for i in range(1, len(steps))]
    return steps[1:], np.array(rows)


def _distance(a: Trajectory, b: Trajectory, steps: np.ndarray) -> np.ndarray:
    """Delta_AB at each of `steps` (both stores hold a snapshot there)."""
    ia = {int(s): i for i, s in enumerate(a.steps)}
    ib = {int(s): i for i, s in enumerate(b.steps)}
    return np.array([float(np.mean((np.asarray(a.snapshot(ia[int(s)]), dtype=np.float64)
                                    - np.asarray(b.snapshot(ib[int(s)]), dtype=np.float64)) ** 2)) for s in steps])


def compare(paths: dict[str, Path], tw: int) -> Control:
    """The comparison at one t_w from its branch stores {role: path} (noise-off and noise-on at least)."""
    missing = [r for r in branch.ROLES if r not in paths]
    if missing:
        raise BadInput(f"t_w = {tw:,}: the {' and '.join(missing)} branch is missing: run glasslab control again")
    off, on = Trajectory.open(paths["noise-off"]), Trajectory.open(paths["noise-on"])
    if min(off.n_snapshots, on.n_snapshots) < 2:
        raise BadInput(f"t_w = {tw:,}: a branch has fewer than 2 snapshots: let glasslab control finish it")
    s_off, d_off = _from_start(off)
    s_on, d_on = _from_start(on)
    common = np.intersect1d(s_off, s_on)
    d_off = d_off[np.isin(s_off, common)]
    d_on = d_on[np.isin(s_on, common)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d_off > 0, d_on / np.where(d_off > 0, d_off, 1.0), np.where(d_on > 0, np.inf, 1.0))
    epoch = epoch_of(on)
    late, verdict, note = verdict_of(common, ratio, epoch)
    out = Control(tw, [int(s) for s in common], d_off.tolist(), d_on.tolist(), ratio.tolist(), late, verdict,
                  epoch, note)
    out.sampler = replicas.sampler_of(on.preset)
    out.branch_steps = int(on.preset.get("run", {}).get("steps", common[-1] if len(common) else 0))
    out.branch = replicas.branch_text(out.sampler, out.branch_steps, replicas.epoch_steps(
        on.preset, int(on.attrs.get("train_size", 0))))
    reps = [Trajectory.open(p) for role, p in sorted(paths.items()) if role.startswith("replica-")]
    if reps:
        dist = np.mean([_distance(on, r, common) for r in reps], axis=0)
        out.replicas, out.replica_distance = len(reps), dist.tolist()
        out.replica_ratio = float(dist[-1] / d_on[-1]) if d_on[-1] > 0 else math.inf
        out.replicas_read = ("the replicas separate" if out.replica_ratio >= REPLICAS_APART
                             else "the replicas stay together" if out.replica_ratio < REPLICAS_TOGETHER
                             else "the replicas drift apart")
    return out


def analyze_controls(store: str | Path, out: str | Path | None = None) -> list[Control]:
    """Every t_w that `glasslab control` branched from `store` with a noise-off branch, compared (empty when
    there is none; t_w branched --replicas-only are core/analysis/replicas.py's)."""
    return [compare(paths, tw) for tw, paths in branch.find(store, out).items() if "noise-off" in paths]
