"""Ensemble averages over a sweep's seeds: per point the usual numbers, per group the means and errors.

A group is the set of a sweep's points that differ only in their seed axes
(run.seed, data.seed).  Per group, on the snapshot grid its points share:

    loss(t), D(t)                  mean and standard error over seeds
    Delta(t_w, t_w + t)            mean and standard error, element by element of the [K, K] matrix
    mu, late slope, final loss     mean and standard error of the per-point values
    N_Delta / P                    the same, under a hinge loss only (the jamming order parameter of [SG19])

The standard error is std(ddof=1) / sqrt(n) over the n points of the group
(None for one point).  The per-point numbers are core/analysis/report.py's
(analyze_store: the collapse fit of mu, the late-time slope of log Delta, the
verdict; docs/science.md, section 5), read from each point's store.  For the
model.width axis the table also carries N (parameters) and N/P (P = training
samples), the over/under-parametrisation ratio of [BJ18] and [KWJ24].  Under a
hinge loss (model.loss = "hinge" or "hinge2") each point also carries its final
N_Delta, the number of unsatisfied constraints y f(x) < 1 ([SG19]; report.py's
n_delta), and N_Delta / P; without one these are None and result["has_n_delta"]
is False, so tables and figures can leave the column out.
Pure numpy; the figure lives in tui/sweep_figure.py.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from glasslab.core.analysis import replicas, report, verdict_rule, windows
from glasslab.core.errors import BadInput
from glasslab.core.sweep import manifest
from glasslab.core.sweep.grid import fmt

SEED_AXES = ("run.seed", "data.seed")
# The numbers quoted with a band over fit windows: row name -> the analysis' estimate (core/analysis/aging.py)
WINDOWED = {"mu": "all", "mu_late_scaled": "late_scaled", "late_slope": "late_slope"}


# Student-t quantiles t_{0.975, n-1} for n = 2 ... 31 points (two-sided 95 %), from the standard
# tables; beyond 31 the normal value 1.96 is within 2 % of t.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_interval(mean: float | None, sem: float | None, n: int) -> list[float] | None:
    """The two-sided 95 % Student-t interval of a mean over n independent seeds, or None below 2."""
    if mean is None or sem is None or n < 2:
        return None
    q = _T975[n - 2] if n - 2 < len(_T975) else 1.96
    return [mean - q * sem, mean + q * sem]


def reading(interval: list[float] | None, n: int = 5, slope: bool = False, too_short: int = 0) -> str:
    """What a t-interval says: of an exponent's sign ("above 0", "below 0", "contains 0: undecided"),
    of a slope d log Delta / d log t against diffusion ([0.8, 1.2]: "diffusive", "sub-diffusive",
    "super-diffusive", "undecided", windows.slope_state); with fewer than 5 seeds it says so
    (docs/science.md asks for at least 5 before a claim).  too_short: how many of the n points are
    below the data rule (core/analysis/verdict_rule.py): then the ensemble says no more than they do."""
    if too_short:
        return f"{verdict_rule.TOO_SHORT} ({too_short} of {n} points below the data rule)"
    if interval is None:
        return "one seed: no interval"
    if slope:
        said = windows.slope_state(*interval)
    else:
        said = "above 0" if interval[0] > 0 else "below 0" if interval[1] < 0 else "contains 0: undecided"
    return said if n >= 5 else f"{said} ({n} seeds < 5: indicative only)"


def _mean_sem(values) -> tuple[float | None, float | None]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return None, None
    sem = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return float(v.mean()), sem


def _stack_mean_sem(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise mean and standard error over equal-shaped arrays, ignoring NaN (sem NaN below 2 values)."""
    a = np.stack(arrays).astype(np.float64)
    n = np.isfinite(a).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells (below the diagonal) stay NaN
        mean = np.nanmean(a, axis=0)
        sem = np.nanstd(a, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
    sem[n < 2] = np.nan
    return mean, sem


def point_numbers(sweep_dir: Path, p: dict, n_boot: int, tw_window=None, lag_max: str = "t_w") -> dict[str, Any]:
    """One point's headline numbers from its store (analysis_error when it has too little)."""
    path = sweep_dir / p["store"]
    row: dict[str, Any] = {"id": p["id"], "values": p["overrides"], "state": p["state"], "store": str(path)}
    if not path.exists():
        row["analysis_error"] = "no store yet"
        return row
    try:
        r = report.analyze_store(path, tw_window=tw_window, n_boot=n_boot, lag_max=lag_max)
    except BadInput as err:
        row["analysis_error"] = str(err)
        return row
    a = r.get("analysis") or {}
    aging = (a.get("aging") or {}).get("all") or {}
    scaled = (a.get("aging") or {}).get("late_scaled") or {}
    row.update(n_params=r["n_params"], train_size=r["train_size"], last_step=r["last_step"],
               final_train_loss=r["final"].get("train_loss"), final_test_loss=r["final"].get("test_loss"),
               mu=aging.get("mu"), mu_err=aging.get("mu_err"),
               mu_late_scaled=None if scaled.get("at_bound") else scaled.get("mu"),
               late_slope=(a.get("late_slope") or {}).get("slope"), verdict=report.verdict_of(r))
    row["mu_at_bound"] = _bound_side(aging)
    # The band over fit windows of each quoted number (core/analysis/windows.py): per window its value, so
    # the ensemble can give each window its own mean and interval over seeds.
    est = a.get("estimates") or {}
    for name, key in WINDOWED.items():
        e = est.get(key) or {}
        row[f"{name}_windows"] = {k: v for k, v in (e.get("windows") or {}).items() if v is not None}
    row["outputs"] = r.get("outputs")
    row["sampler"] = r.get("sampler")
    row["R"] = {str(c["tw"]): c["late_ratio"] for c in r.get("controls") or [] if c.get("late_ratio") is not None}
    row["R_branch"] = next((c.get("branch") for c in r.get("controls") or []), None)
    row["spreading"] = (r.get("spreading") or {}).get("verdict")
    nd = r.get("n_delta")  # None without a hinge loss (evals/n_delta is NaN there)
    row.update(N_Delta=nd["N_Delta"] if nd else None, N_Delta_over_P=nd["per_P"] if nd else None)
    if r.get("analysis_error"):
        row["analysis_error"] = r["analysis_error"]
    return row


def _windows_over_seeds(rows: list[dict], name: str, main: float | None) -> tuple[list | None, dict]:
    """(the band over fit windows of the seed means, {window: [lo, hi] 95 % Student-t over seeds})."""
    ws = [r.get(f"{name}_windows") or {} for r in rows if r.get(name) is not None]
    labels = sorted(set.intersection(*[set(w) for w in ws])) if ws else []
    means, t95 = {}, {}
    for k in labels:
        m, sem = _mean_sem(w[k] for w in ws)
        means[k], t95[k] = m, t_interval(m, sem, len(ws))
    vals = [v for v in [main, *means.values()] if v is not None and math.isfinite(v)]
    return ([min(vals), max(vals)] if vals else None), {k: {"mean": means[k], "t95": t95[k]} for k in labels}


def _bound_side(fit: dict) -> str | None:
    """"upper" or "lower" when the collapse fit's minimum sits on that end of its mu grid (the cost
    still falls beyond it: mu is then a bound, not a measurement; core/analysis/collapse.py), else None."""
    if not fit.get("at_bound") or fit.get("mu") is None:
        return None
    grid = fit.get("mu_grid") or [-math.inf, math.inf]
    return "upper" if fit["mu"] >= 0.5 * (grid[0] + grid[-1]) else "lower"


def _curves(path: Path) -> dict[str, np.ndarray]:
    t, mats = report.load_two_time(path)
    D = t.array("observables/D")
    return {"steps": np.asarray(t.steps), "train_loss": t.evals()["train_loss"],
            "D": D if D is not None else np.full(t.n_snapshots, np.nan), "msd": mats["msd"]}


def analyze_sweep(sweep_dir: str | Path, n_boot: int = 200, tw_window: tuple[float, float] | None = None,
                  lag_max: str = "t_w") -> dict[str, Any]:
    """Per point and per seed group; JSON-able except the groups' curve arrays (see to_jsonable).

    Keys: sweep, axes, group_axes, seed_axes, docs (where the numbers are defined), has_n_delta,
    points [{id, values, state, n_params, train_size, final_train_loss, mu, mu_err, mu_at_bound,
    late_slope, N_Delta, N_Delta_over_P, verdict} or analysis_error], groups [{values, n, ids, N, P,
    N_over_P, steps [K], train_loss_mean/sem [K], D_mean/sem [K], delta_mean/sem [K, K], mu, mu_sem,
    mu_t95 and mu_reading (the 95 % Student-t interval over seeds, and whether it excludes 0; the same
    for mu_late_scaled, mu on Delta/D(t_w) over the late t_w, and late_slope),
    mu_n_at_bound, mu_at_bound, late_slope, late_slope_sem, final_train_loss, final_train_loss_sem,
    N_Delta_over_P, N_Delta_over_P_sem, verdicts}].
    N_Delta and N_Delta_over_P are None without a hinge loss; has_n_delta says whether any point has them.
    mu_at_bound: "upper" | "lower" (the end of the fit's mu grid a point's mu sits on: a bound, not a
    value), None; a group's is that of its points ("both" when they differ), mu_n_at_bound how many.
    Raises BadInput when no point has a store to analyse.
    """
    sweep_dir = Path(sweep_dir)
    m = manifest.read(sweep_dir)
    axes = list(m["axes"])
    group_axes = [a for a in axes if a not in SEED_AXES]
    points = [point_numbers(sweep_dir, p, n_boot, tw_window, lag_max) for p in m["points"]]
    by_group: dict[tuple, list[dict]] = {}
    for p, row in zip(m["points"], points):
        if "mu" not in row and "final_train_loss" not in row:
            continue  # nothing analysable in this store
        key = tuple(repr(p["overrides"][a]) for a in group_axes)
        by_group.setdefault(key, []).append(row)
    if not by_group:
        raise BadInput(f"no point of {sweep_dir} has a store to analyse yet (glasslab sweep status {sweep_dir})")
    groups = [_group(sweep_dir, group_axes, rows) for rows in by_group.values()]
    groups.sort(key=lambda g: _axis_order(g["values"], group_axes))  # a table against N/P reads in order
    return {"sweep": str(sweep_dir), "axes": axes, "group_axes": group_axes, "seed_axes": [a for a in axes if a in SEED_AXES],
            "docs": report.DOCS, "has_n_delta": any(r.get("N_Delta") is not None for r in points),
            "points": points, "groups": groups}


def _axis_order(values: dict[str, Any], axes: list[str]) -> tuple:
    """Groups in ascending axis values (numbers by value, anything else by its text), whatever
    order the grid ran them in (a sweep often runs its widest point first)."""
    return tuple((0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, repr(v))
                 for v in (values[a] for a in axes))


def _group(sweep_dir: Path, group_axes: list[str], rows: list[dict]) -> dict[str, Any]:
    values = {a: rows[0]["values"][a] for a in group_axes}
    curves = [_curves(Path(r["store"])) for r in rows]
    k = min(len(c["steps"]) for c in curves)  # the snapshot grid they share (a prefix while some still run)
    base = curves[0]["steps"][:k]
    same = [c for c in curves if np.array_equal(c["steps"][:k], base)]
    n_params, train_size = rows[0].get("n_params"), rows[0].get("train_size")
    out = {"values": values, "n": len(rows), "ids": [r["id"] for r in rows],
           "N": n_params, "P": train_size, "N_over_P": (n_params / train_size) if n_params and train_size else None,
           "steps": base, "n_curves": len(same)}
    for name in ("train_loss", "D"):
        out[f"{name}_mean"], out[f"{name}_sem"] = _stack_mean_sem([c[name][:k] for c in same])
    out["delta_mean"], out["delta_sem"] = _stack_mean_sem([c["msd"][:k, :k] for c in same])
    for name in ("mu", "mu_late_scaled", "late_slope", "final_train_loss", "N_Delta_over_P"):
        out[name], out[f"{name}_sem"] = _mean_sem(r.get(name) for r in rows)
    short = sum(1 for r in rows if str(r.get("verdict") or "").startswith(verdict_rule.TOO_SHORT))
    for name in ("mu", "mu_late_scaled", "late_slope"):  # over seeds: the error that counts (docs/science.md)
        n = sum(1 for r in rows if r.get(name) is not None)
        out[f"{name}_t95"] = t_interval(out[name], out[f"{name}_sem"], n)
        out[f"{name}_reading"] = reading(out[f"{name}_t95"], n, slope=name == "late_slope", too_short=short)
        out[f"{name}_band"], out[f"{name}_windows"] = _windows_over_seeds(rows, name, out[name])
    c = rows[0].get("outputs")
    out["C"] = c
    out["N_over_PC"] = (n_params / (train_size * c)) if n_params and train_size and c else None
    # The controls over seeds: R per t_w (a reading of which of drift and noise dominates over the branch)
    # and the replicas' growth exponents with their intervals (core/analysis/replicas.py).
    tws = sorted({tw for r in rows for tw in r.get("R") or {}}, key=int)
    out["R"] = {}
    for tw in tws:
        vals = [r["R"][tw] for r in rows if tw in (r.get("R") or {})]
        m, sem = _mean_sem(vals)
        out["R"][tw] = {"mean": m, "n": len(vals), "t95": t_interval(m, sem, len(vals))}
    out["R_branch"] = next((r["R_branch"] for r in rows if r.get("R_branch")), None)
    out["spreading"] = replicas.pooled([r.get("spreading") for r in rows])
    sides = {r["mu_at_bound"] for r in rows if r.get("mu_at_bound")}
    # A mean over points of which some sit on the upper end of the grid is itself only a lower bound.
    out["mu_n_at_bound"] = sum(1 for r in rows if r.get("mu_at_bound"))
    out["mu_at_bound"] = None if not sides else sides.pop() if len(sides) == 1 else "both"
    verdicts: dict[str, int] = {}
    for r in rows:
        verdicts[r.get("verdict") or "-"] = verdicts.get(r.get("verdict") or "-", 0) + 1
    out["verdicts"] = verdicts
    return out


def to_jsonable(result: dict[str, Any]) -> dict[str, Any]:
    """The result with arrays as lists and NaN as None (for --json)."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.ndarray):
            return clean(v.tolist())
        if isinstance(v, (float, np.floating)):
            return float(v) if math.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        return v

    return clean(result)


def write_csv(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """points.csv, groups.csv (the table against the axes), curves.csv (loss, D) and delta.csv (Delta)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    axes, gaxes = result["axes"], result["group_axes"]

    def num(v):
        return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else repr(float(v)) \
            if isinstance(v, (float, np.floating)) else v

    written = []
    with (out_dir / "points.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        cols = ["n_params", "train_size", "last_step", "final_train_loss", "final_test_loss", "mu", "mu_err", "mu_at_bound",
                "late_slope", *(["N_Delta", "N_Delta_over_P"] if result.get("has_n_delta") else []), "verdict"]
        w.writerow(["point", *axes, "state", *cols])
        for r in result["points"]:
            w.writerow([r["id"], *(fmt(r["values"][a]) for a in axes), r["state"], *(num(r.get(c)) for c in cols)])
    written.append(out_dir / "points.csv")
    with (out_dir / "groups.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        cols = ["mu", "mu_sem", "mu_n_at_bound", "mu_at_bound", "late_slope", "late_slope_sem", "final_train_loss",
                "final_train_loss_sem", *(["N_Delta_over_P", "N_Delta_over_P_sem"] if result.get("has_n_delta") else [])]
        w.writerow([*gaxes, "n_seeds", "N", "P", "N_over_P", *cols])
        for g in result["groups"]:
            w.writerow([*(fmt(g["values"][a]) for a in gaxes), g["n"], g["N"], g["P"], num(g["N_over_P"]), *(num(g[c]) for c in cols)])
    written.append(out_dir / "groups.csv")
    with (out_dir / "curves.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*gaxes, "step", "train_loss_mean", "train_loss_sem", "D_mean", "D_sem"])
        for g in result["groups"]:
            for i, s in enumerate(g["steps"]):
                w.writerow([*(fmt(g["values"][a]) for a in gaxes), int(s), *(num(g[c][i]) for c in
                                                                            ("train_loss_mean", "train_loss_sem", "D_mean", "D_sem"))])
    written.append(out_dir / "curves.csv")
    with (out_dir / "delta.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*gaxes, "t_w", "t", "delta_mean", "delta_sem"])
        for g in result["groups"]:
            st, dm, ds = g["steps"], g["delta_mean"], g["delta_sem"]
            for i in range(len(st)):
                for j in range(i + 1, len(st)):
                    if np.isfinite(dm[i, j]):
                        w.writerow([*(fmt(g["values"][a]) for a in gaxes), int(st[i]), int(st[j] - st[i]), num(dm[i, j]), num(ds[i, j])])
    written.append(out_dir / "delta.csv")
    return written

