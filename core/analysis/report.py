"""`glasslab analyze`: a run's store -> the aging analysis, as data (JSON-able) and tidy CSV.

Works on finished, interrupted, diverged and still-running stores.  A store
with no live writer gets its two-time matrices completed and saved (once); a
live one, or one on a read-only file system, is analysed with the matrices
computed in memory and left untouched.  A committed row whose step is -1 was
never written (a store copied while its run wrote it): such rows are left out
and named (`missing_rows`).  The console's runs table and analysis pane read a
store as it stands instead (`as_stored`): nothing completed, written or
computed from the weights.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from glasslab.core.analysis import aging, checks, controls, replicas, verdict_rule
from glasslab.core.config import dynamics
from glasslab.core.errors import BadInput
from glasslab.core.measure.observables import two_time_from_weights
from glasslab.core.store import codec, completion, layout, reader
from glasslab.core.store import notes as store_notes
from glasslab.core.store import lock as store_lock


def load_two_time(path: Path) -> tuple[reader.Trajectory, dict[str, np.ndarray]]:
    """The trajectory and its complete two-time matrices over the committed snapshots."""
    t = reader.Trajectory.open(path)
    n = t.n_snapshots
    if n < 3:
        raise BadInput(f"{path} has {n} snapshot(s): the aging analysis needs at least 3 (let the run go further)")
    if int(t.attrs.get("two_time_complete", 0)) != n:
        if store_lock.lock_owner(path) is None:
            try:
                completion.complete_locked(path)
                return _committed(reader.Trajectory.open(path))
            except store_lock.StoreReadOnly:
                t.attrs["two_time_not_written"] = "the store is read-only: computed here, not written to it"
        f = float(t.preset.get("recording", {}).get("overlap_f", 100.0))
        res = two_time_from_weights(t.weights, n, f=f)
        return t, {"msd": res.msd, "overlap": res.overlap, "alpha2": res.alpha2, "participation": res.participation}
    return _committed(t)


def _committed(t: reader.Trajectory) -> tuple[reader.Trajectory, dict[str, np.ndarray]]:
    n = t.n_snapshots
    return t, {name: np.asarray(t.root[name][:n, :n]) for name in layout.TWO_TIME}


def stored_two_time(t: reader.Trajectory) -> dict[str, np.ndarray]:
    """The two-time matrices as the store holds them over its committed snapshots, [n, n] each: NaN
    where nothing has filled them yet (a running run's rows past its online t_w).  Nothing is
    completed, written or computed.  BadInput without a Delta matrix or with under 3 snapshots."""
    if "msd" not in t.root:
        raise BadInput("this store has no Delta matrix (msd)")
    n = t.n_snapshots
    if n < 3:
        raise BadInput(f"{t.path} has {n} snapshot(s): the aging analysis needs at least 3 (let the run go further)")
    return {name: np.asarray(t.root[name][:n, :n]) for name in layout.TWO_TIME if name in t.root}


def _written(t: reader.Trajectory, mats: dict[str, np.ndarray]):
    """Steps, matrices, evals and D over the rows actually written (step >= 0), and the missing rows."""
    steps = np.asarray(t.steps)
    ok = steps >= 0
    ev, D = t.evals(), t.array("observables/D")
    missing = np.flatnonzero(~ok).tolist()
    if missing:
        steps, ev = steps[ok], {k: v[ok] for k, v in ev.items()}
        mats = {k: m[np.ix_(ok, ok)] for k, m in mats.items()}
        D = D[ok] if D is not None else None
        if len(steps) < 3:
            raise BadInput(f"{t.path} has {len(steps)} written snapshot(s) ({len(missing)} committed rows were never "
                           "written: a copy taken while its run wrote?): the aging analysis needs at least 3")
    return steps, mats, ev, D, missing


def outputs_of(t: reader.Trajectory) -> int | None:
    """C, the network's outputs: the first axis of its last parameter (the output bias of the toy and fully
    connected models); None for the harmonic model, which has no outputs."""
    layout = t.attrs.get("param_layout") or []
    if t.preset.get("model", {}).get("kind") == "harmonic" or not layout or not layout[-1][1]:
        return None
    return int(layout[-1][1][0])


def analyze_store(path: str | Path, tw_window: tuple[float, float] | None = None, n_boot: int = 200,
                  lag_max: str = "t_w", as_stored: bool = False) -> dict:
    """Every number of the analysis, with the run's identity and final losses, and its controls:
    "noise_size" (measured Delta against the SGD-noise prediction at lags up to an epoch) and
    "radial" (the share of Delta carried by the change of |w|).  lag_max: see aging.analyze.

    as_stored: read the store as it stands (stored_two_time: nothing completed, written or computed
    from the weights) and leave out the branch controls and the replicas' spreading (they read
    whole branch stores): cheap and read-only, for the console, which analyses every listed run.  A store
    that cannot be analysed yet then gives {"run", "name", "status", "switches", "analysis": None,
    "analysis_error"} instead of raising BadInput."""
    path = Path(path)
    if as_stored:
        t = reader.Trajectory.open(path)
        try:
            steps, mats, ev, D, missing = _written(t, stored_two_time(t))
        except BadInput as err:
            return {"run": str(path), "name": t.attrs.get("name"), "status": t.status, "switches": _switches(t),
                    "analysis": None, "analysis_error": str(err)}
    else:
        t, mats = load_two_time(path)
        steps, mats, ev, D, missing = _written(t, mats)
    out = {
        "run": str(path),
        "name": t.attrs.get("name"),
        "status": t.status,
        "n_params": t.n_params,
        "train_size": t.attrs.get("train_size"),
        "n_snapshots": len(steps),
        "missing_rows": missing,  # committed rows never written (step -1): left out of everything here
        "last_step": int(steps[-1]),
        "dynamics": t.preset.get("dynamics", {}).get("kind"),
        "sampler": replicas.sampler_of(t.preset),
        "outputs": outputs_of(t),  # C: P C constraints for an MSE fit, N / (P C) the over-parametrisation
        "final": {k: _clean(v[-1]) for k, v in ev.items()},
        "n_delta": _n_delta(ev["n_delta"][-1], t.n_params, t.attrs.get("train_size")),
        "docs": DOCS,
        # The lab notebook (glasslab run --tag, glasslab note): the run's tags and its notes, oldest first.
        "tags": list(store_notes.tags_of(t.attrs)),
        "notes": [{k: n.get(k) for k in ("step", "time", "text", "tags")} for n in store_notes.notes_of(t.attrs)],
        # The dynamics switches: a verdict on a run that changed its dynamics must name them.
        "switches": _switches(t),
    }
    try:
        out["analysis"] = aging.analyze(steps, mats["msd"], D=D, overlap=mats.get("overlap"),
                                           train_loss=ev["train_loss"], tw_window=tw_window, n_boot=n_boot,
                                           lag_max=lag_max,
                                           so_far=int(steps[-1]) if t.status == "running" else None)
    except BadInput as err:
        out["analysis"] = None
        out["analysis_error"] = str(err)
    rows = _some_waiting_times(steps, out["analysis"])
    out["noise_size"] = noise_size(t, steps, mats["msd"], D, rows)
    n2 = t.array("observables/weight_norm2")
    if n2 is not None:
        n2 = n2[np.asarray(t.steps) >= 0]  # the rows actually written, as steps
    out["radial"] = None if n2 is None else checks.radial_share(steps, mats["msd"], n2[:len(steps)], rows)
    # The noise-off control and replicas, where `glasslab control` branched this run (core/runs/branch.py).
    if not as_stored:
        out["controls"] = [c.to_dict() for c in controls.analyze_controls(path)]
        spreads, spread_verdict = replicas.analyze_replicas(path)  # the replicas' spreading (section 6c)
        out["spreading"] = {"verdict": spread_verdict, "tws": [s.to_dict() for s in spreads]} if spreads else None
    if "two_time_not_written" in t.attrs:
        out["two_time_not_written"] = t.attrs["two_time_not_written"]
    if D is not None and np.isfinite(D).sum() >= 2:
        ok = np.isfinite(D) & (D > 0) & (steps > 0)
        if ok.sum() >= 2:
            slope = np.polyfit(np.log(steps[ok]), np.log(D[ok]), 1)[0]
            out["D_trend"] = {"first": _clean(D[ok][0]), "last": _clean(D[ok][-1]), "loglog_slope": _clean(slope)}
    return out


def _switches(t: reader.Trajectory) -> list[dict]:
    """The run's dynamics switches, JSON-able: [{"step", "old" kind, "new" kind}]."""
    return [{"step": r.step, "old": r.old.kind, "new": r.new.kind} for r in codec.switches(t.events)]


def _some_waiting_times(steps, analysis, n: int = 4) -> np.ndarray:
    """Row indices of n waiting times spread in log t_w over the usable ones (all t > 0 without an analysis)."""
    tw = np.asarray(analysis["tw_usable"] if analysis else steps[steps > 0], dtype=np.float64)
    if tw.size == 0:
        return np.zeros(0, dtype=int)
    picks = np.unique(np.round(np.linspace(0, tw.size - 1, min(n, tw.size))).astype(int))
    return np.searchsorted(np.asarray(steps, dtype=np.float64), tw[picks])


def noise_size(t: reader.Trajectory, steps, msd, D, rows) -> dict:
    """Measured Delta / the uncorrelated-SGD-noise prediction at lags up to about an epoch
    (checks.sgd_noise_prefactor; eta, B, m from the preset, P from train_size, N = n_params)."""
    dyn = t.preset.get("dynamics", {})
    kind = dyn.get("kind")
    P, N = t.attrs.get("train_size"), t.n_params
    if not dynamics.predicts_noise_size(dyn):
        return {"kind": kind, "note": f"{kind} has no minibatch noise: no prediction"}
    if D is None or not P:
        return {"kind": kind, "note": "needs observables/D and train_size"}
    B, lr, m = int(dyn.get("batch_size", 0)), float(dyn.get("lr", 0.0)), float(dyn.get("momentum", 0.0))
    c = checks.sgd_noise_prefactor(dyn, int(P), int(N))
    epoch = P / B
    out = {"kind": kind, "lr": lr, "batch_size": B, "momentum": m, "train_size": int(P), "n_params": int(N),
           "prefactor": c, "epoch": epoch,
           "formula": dynamics.noise_size_formula(dyn),
           "rows": checks.noise_size_check(steps, msd, D, c, epoch, rows)}
    if codec.switches(t.events):
        out["note"] = "the run switched its dynamics: the prediction uses the preset's SGD settings"
    return out


DOCS = "docs/science.md"  # where the observables, fits and verdicts are defined


def _n_delta(n_delta: float, n_params: int, train_size) -> dict | None:
    """The last N_Delta (unsatisfied constraints y f < 1, [SG19]) with N_Delta/N and N_Delta/P; None without a hinge loss."""
    if not math.isfinite(n_delta):
        return None
    return {"N_Delta": int(n_delta), "per_N": n_delta / n_params, "per_P": n_delta / train_size if train_size else None}


def verdict_of(result: dict) -> str:
    """The verdict as every surface prints it (verdict_rule.verdict_text: "aging, so far, at step S"
    while the run trains), or "-" without an analysis."""
    a = result.get("analysis")
    return verdict_rule.verdict_text(a.get("verdict")) if a else "-"


def write_csv(path: str | Path, out_dir: str | Path) -> list[Path]:
    """One tidy CSV per observable: t_w, t (the lag), value; and one per-snapshot table."""
    t, mats = load_two_time(Path(path))
    steps, mats, _, _, missing = _written(t, mats)
    ok = np.asarray(t.steps) >= 0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
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
    columns = {**t.evals(), **{k: t.array(f"observables/{k}") for k in layout.OBSERVABLES}}
    columns = {k: (v[ok] if v is not None else None) for k, v in columns.items()}
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
