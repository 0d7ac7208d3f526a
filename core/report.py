"""`glasslab analyze`: a run's store -> the aging analysis, as data (JSON-able) and tidy CSV.

Works on finished, interrupted, diverged and still-running stores.  A store
with no live writer gets its two-time matrices completed and saved (once); a
live one is analysed on a consistent prefix, computed in memory, and left
untouched (the writer owns it).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from . import analysis, checkpoint, trajectory
from .errors import BadInput
from .observables import two_time_from_weights


def load_two_time(path: Path) -> tuple[trajectory.Trajectory, dict[str, np.ndarray]]:
    """The trajectory and its complete two-time matrices over the committed snapshots."""
    t = trajectory.Trajectory.open(path)
    n = t.n_snapshots
    if n < 3:
        raise BadInput(f"{path} has {n} snapshot(s): the aging analysis needs at least 3 (let the run go further)")
    live = checkpoint.lock_owner(path) is not None
    if int(t.attrs.get("two_time_complete", 0)) != n:
        if live:
            f = float(t.preset.get("recording", {}).get("overlap_f", 100.0))
            res = two_time_from_weights(t.weights, n, f=f)
            mats = {"msd": res.msd, "overlap": res.overlap, "alpha2": res.alpha2, "participation": res.participation}
            return t, mats
        _complete_locked(path)
        t = trajectory.Trajectory.open(path)
    mats = {name: np.asarray(t.root[name][:n, :n]) for name in trajectory.TWO_TIME}
    return t, mats


def complete_store(path: str | Path) -> tuple[int, str]:
    """Once a run has ended: the whole upper triangle of Delta, Q, alpha2, Y from its stored weights,
    under the store's writer lock (the headless CLI and the console both end a run with this).

    Returns (snapshots covered, '') or (0, a one-line warning) when it could not be done
    now; `glasslab analyze` retries then.  A live writer elsewhere raises BadInput.
    """
    path = Path(path)
    try:
        return _complete_locked(path), ""
    except (OSError, ValueError) as err:
        return 0, f"two-time matrices not completed ({err}); glasslab analyze {path} will retry"


def _complete_locked(path: Path) -> int:
    """trajectory.complete_two_time under the store's writer lock (BadInput while another writer holds it)."""
    lock = checkpoint.acquire(path)
    try:
        return trajectory.complete_two_time(path)
    finally:
        checkpoint.release(lock)


def analyze_store(path: str | Path, tw_window: tuple[float, float] | None = None, n_boot: int = 200) -> dict:
    """Every number of the analysis, with the run's identity and final losses."""
    path = Path(path)
    t, mats = load_two_time(path)
    steps = t.steps
    ev = t.evals()
    D = t.array("observables/D")
    out = {
        "run": str(path),
        "name": t.attrs.get("name"),
        "status": t.status,
        "n_params": t.n_params,
        "train_size": t.attrs.get("train_size"),
        "n_snapshots": t.n_snapshots,
        "last_step": int(steps[-1]),
        "dynamics": t.preset.get("dynamics", {}).get("kind"),
        "final": {k: _clean(v[-1]) for k, v in ev.items()},
        "n_delta": _n_delta(ev["n_delta"][-1], t.n_params, t.attrs.get("train_size")),
        "docs": DOCS,
    }
    try:
        out["analysis"] = analysis.analyze(steps, mats["msd"], D=D, overlap=mats["overlap"],
                                           train_loss=ev["train_loss"], tw_window=tw_window, n_boot=n_boot)
    except BadInput as err:
        out["analysis"] = None
        out["analysis_error"] = str(err)
    if D is not None and np.isfinite(D).sum() >= 2:
        ok = np.isfinite(D) & (D > 0) & (steps > 0)
        if ok.sum() >= 2:
            slope = np.polyfit(np.log(steps[ok]), np.log(D[ok]), 1)[0]
            out["D_trend"] = {"first": _clean(D[ok][0]), "last": _clean(D[ok][-1]), "loglog_slope": _clean(slope)}
    return out


DOCS = "docs/science.md"  # where the observables, fits and verdicts are defined


def _n_delta(n_delta: float, n_params: int, train_size) -> dict | None:
    """The last N_Delta (unsatisfied constraints y f < 1, [SG19]) with N_Delta/N and N_Delta/P; None without a hinge loss."""
    if not math.isfinite(n_delta):
        return None
    return {"N_Delta": int(n_delta), "per_N": n_delta / n_params, "per_P": n_delta / train_size if train_size else None}


def verdict_of(result: dict) -> str:
    a = result.get("analysis")
    return a["verdict"]["label"] if a and a.get("verdict") else "-"


def write_csv(path: str | Path, out_dir: str | Path) -> list[Path]:
    """One tidy CSV per observable: t_w, t (the lag), value; and one per-snapshot table."""
    t, mats = load_two_time(Path(path))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = t.steps
    written = []
    for name, m in mats.items():
        f = out_dir / f"{name}.csv"
        with f.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t_w", "t", name])
            for i in range(len(steps)):
                for j in range(i + 1, len(steps)):
                    if np.isfinite(m[i, j]):
                        w.writerow([int(steps[i]), int(steps[j] - steps[i]), repr(float(m[i, j]))])
        written.append(f)
    f = out_dir / "snapshots.csv"
    columns = {**t.evals(), **{k: t.array(f"observables/{k}") for k in trajectory.OBSERVABLES}}
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", *columns])
        for i, s in enumerate(steps):
            w.writerow([int(s), *(repr(float(v[i])) if v is not None else "" for v in columns.values())])
    written.append(f)
    return written


def _clean(x):
    x = float(x)
    return None if not math.isfinite(x) else x
