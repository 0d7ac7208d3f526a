"""The replicas' spreading, the test of diffusion (docs/science.md, section 6c).

K >= 2 replicas continue one snapshot w(t_w) with the same dynamics and independent noise
(core/runs/branch.py: noise-on and replica-k).  For every pair (A, B), per parameter, in
float64 from the stored float32 weights:

    Delta_AB(t_w, t) = (1/N) |w_A(t_w + t) - w_B(t_w + t)|^2

Drift moves both replicas alike and keeps them together; only the noise separates them.  So
Delta_AB is the noise's share of the motion, whatever the drift does, and its growth with the
lag t tells how the noise moves the weights at the bottom of the landscape:

    diffusive     Delta_AB ~ t (exponent in [0.8, 1.2]) and independent of t_w: [BJ18]'s
                  interrupted aging (two independent diffusions give Delta_AB = 2 Delta = 4 T eta t
                  for Langevin on a flat loss);
    confined      Delta_AB saturates (exponent within +-0.2 of 0: as near 0 as diffusion is to 1):
                  the replicas share a cage, as in an Ornstein-Uhlenbeck well;
    still aging   Delta_AB at the same lag falls with t_w: mu_AB, the t/t_w^mu scaling exponent of
                  the spreading, lies above 0 (core/analysis/windows.py's "ages");
    undecided     anything else, with the numbers (for instance an exponent between 0.2 and 0.8:
                  the branch is too short to tell sub-diffusion from a slow approach to a plateau).

The exponent is the OLS slope of log Delta_AB against log t over the last half of the log
lag range (from one epoch on under SGD: the first epoch holds the momentum and batch-order
transient), per pair; the quoted value is the mean over pairs, its interval the wider of the
95 % Student-t interval over pairs and the band over the last half, third and quarter of the
lags.  Pairs of one t_w share replicas, so their interval is indicative; over seeds
(core/sweep/ensemble.py) it is an honest one.

Under reshuffled epochs the noise of each whole epoch sums to zero to first order (every sample
is drawn once), so Delta_AB dips at lags that are epoch multiples: both readings are made and
labelled, "at epoch multiples" and "between epoch multiples" (branches take a snapshot every
half epoch for this, core/runs/branch.py).  With replacement and under Langevin there is no
epoch: one reading, "all lags".  Every result names its sampler and branch length.  Read-only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from glasslab.core.analysis.windows import TAILS, slope_state, state_of, student_t975
from glasslab.core.config import dynamics
from glasslab.core.errors import BadInput
from glasslab.core.runs import branch
from glasslab.core.store.reader import Trajectory

DIFFUSIVE = (0.8, 1.2)   # the late-slope test of the aging verdict (core/analysis/aging.py)
CONFINED = (-0.2, 0.2)   # as near 0 as DIFFUSIVE is to 1
AT_EPOCHS, BETWEEN, ALL = "at epoch multiples", "between epoch multiples", "all lags"


def sampler_of(preset: dict) -> str:
    """A stored preset's minibatch sampler: dynamics.sampler, "reshuffle" when absent (older stores);
    "none" for dynamics without minibatches (GD, full-batch Langevin)."""
    dyn = preset.get("dynamics", {})
    return (dynamics.sampler_of(dyn) if dyn else None) or "none"


def epoch_steps(preset: dict, train_size: int) -> int | None:
    """Steps per epoch (ceil(P / B)) of a run that draws minibatches, else None."""
    if sampler_of(preset) == "none":
        return None
    return max(1, math.ceil(int(train_size) / int(preset["dynamics"].get("batch_size", 1))))


def branch_text(sampler: str, steps: int, epoch: int | None) -> str:
    """"sampler reshuffle, branch 4,000 steps (20 epochs)": what every control verdict names."""
    ep = f" ({steps / epoch:.3g} epochs)" if epoch else ""
    return f"sampler {sampler}, branch {steps:,} steps{ep}"


def growth_exponent(lags, dist) -> float:
    """OLS slope of log Delta_AB against log t over the given lags (NaN with under 2 valid points)."""
    t, d = np.asarray(lags, dtype=np.float64), np.asarray(dist, dtype=np.float64)
    ok = (t > 0) & np.isfinite(d) & (d > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(t[ok]), np.log(d[ok]), 1)[0])


def tail_masks(lags) -> dict[str, np.ndarray]:
    """The last half, third and quarter of the log lag range, as masks over `lags` (sorted, > 0)."""
    logs = np.log(np.asarray(lags, dtype=np.float64))
    span = logs[-1] - logs[0] if len(logs) else 0.0
    return {label: logs >= logs[-1] - frac * span - 1e-12 for label, frac in TAILS}


def interval_of(per_unit: list[float], windows: dict[str, float]) -> dict:
    """A quoted exponent: the mean over units (pairs or seeds), the 95 % Student-t half-width over them,
    the band over fit windows, and the interval (the wider of the two)."""
    v = np.asarray([x for x in per_unit if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"value": None, "n": 0, "half_width": None, "band": None, "windows": windows, "interval": None}
    value = float(v.mean())
    half = float(student_t975(v.size) * v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    vals = [value] + [w for w in windows.values() if math.isfinite(w)]
    band = [min(vals), max(vals)]
    return {"value": value, "n": int(v.size), "half_width": half if v.size > 1 else None, "band": band,
            "windows": windows, "interval": [min(value - half, band[0]), max(value + half, band[1])]}


@dataclass
class Reading:
    """Delta_AB on one class of lags at one t_w: lags [n], the pair-mean distance [n] (units of w^2), the
    growth exponent (interval_of over pairs, band over windows) and each pair's exponent."""

    label: str
    lags: list[int]
    distance: list[float]
    exponent: dict
    by_pair: list[float]


@dataclass
class Spreading:
    """The replicas of one t_w: lags [n] since t_w, Delta_AB per pair [pairs, n] and its mean [n]."""

    tw: int
    sampler: str
    branch_steps: int
    epoch: int | None
    replicas: int
    lags: list[int]
    distance: list[float]
    distance_by_pair: list[list[float]]
    readings: dict[str, Reading] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return _json(asdict(self))


def _json(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    return v


def lag_classes(lags: np.ndarray, epoch: int | None, sampler: str) -> dict[str, np.ndarray]:
    """Masks of the lags each reading fits: from one epoch on under SGD, split at epoch multiples under
    reshuffling; every lag otherwise."""
    if not epoch:
        return {ALL: lags > 0}
    late = lags >= epoch
    if sampler != dynamics.RESHUFFLE:
        return {ALL: late}
    whole = lags % epoch == 0
    return {AT_EPOCHS: late & whole, BETWEEN: late & ~whole}


def reading_of(label: str, lags: np.ndarray, by_pair: np.ndarray) -> Reading:
    """The growth exponent of Delta_AB over `lags` (by_pair: [pairs, n]), per pair and over windows."""
    masks = tail_masks(lags) if len(lags) else {}
    main = TAILS[0][0]
    per_pair = [growth_exponent(lags[masks[main]], d[masks[main]]) for d in by_pair] if masks else []
    mean = by_pair.mean(axis=0) if len(by_pair) else np.zeros(0)
    windows = {k: growth_exponent(lags[m], mean[m]) for k, m in masks.items() if k != main}
    return Reading(label, [int(x) for x in lags], mean.tolist(), interval_of(per_pair, windows), per_pair)


def spreading(paths: dict[str, Path], tw: int) -> Spreading:
    """Delta_AB between every pair of noise-on and the replicas of one t_w ({role: path}, as branch.find)."""
    roles = sorted(r for r in paths if r == "noise-on" or r.startswith("replica-"))
    if len(roles) < 2:
        raise BadInput(f"t_w = {tw:,}: {len(roles)} replica(s): the spreading needs two (glasslab control "
                       "--replicas 1 or more)")
    trajs = [Trajectory.open(paths[r]) for r in roles]
    if min(t.n_snapshots for t in trajs) < 2:
        raise BadInput(f"t_w = {tw:,}: a replica has fewer than 2 snapshots: let glasslab control finish it")
    common = sorted(set.intersection(*[{int(s) for s in t.steps} for t in trajs]) - {0})
    index = [{int(s): i for i, s in enumerate(t.steps)} for t in trajs]
    by_pair = np.zeros((len(roles) * (len(roles) - 1) // 2, len(common)))
    for j, s in enumerate(common):
        w = [np.asarray(t.snapshot(ix[s]), dtype=np.float64) for t, ix in zip(trajs, index)]
        for p, (a, b) in enumerate(combinations(range(len(w)), 2)):
            by_pair[p, j] = float(np.mean((w[a] - w[b]) ** 2))
    first = trajs[0]
    sampler = sampler_of(first.preset)
    epoch = epoch_steps(first.preset, int(first.attrs.get("train_size", 0)))
    steps = int(first.preset.get("run", {}).get("steps", common[-1] if common else 0))
    lags = np.asarray(common, dtype=np.int64)
    out = Spreading(tw, sampler, steps, epoch, len(roles), lags.tolist(), by_pair.mean(axis=0).tolist(),
                    by_pair.tolist())
    for label, mask in lag_classes(lags, epoch, sampler).items():
        out.readings[label] = reading_of(label, lags[mask], by_pair[:, mask])
    return out


# ------------------------------------------------------------------ the verdict over t_w ---

def tw_dependence(spreads: list[Spreading], label: str) -> dict | None:
    """How Delta_AB at the same lag changes with t_w (None with fewer than two t_w).

    slope: d log Delta_AB / d log t_w, averaged over the lags all t_w share in the reading's last half
    (per pair index, interval_of over them, band over the windows); mu: -slope / gamma with gamma the
    mean growth exponent, the exponent of a collapse in t / t_w^mu (None while gamma is within the
    confined band, where the curves do not shift along t)."""
    rs = [s.readings.get(label) for s in spreads]
    if len(spreads) < 2 or any(r is None or not r.lags for r in rs):
        return None
    shared = sorted(set.intersection(*[set(r.lags) for r in rs]))
    if len(shared) < 2:
        return None
    log_tw = np.log([s.tw for s in spreads])
    lags = np.asarray(shared, dtype=np.float64)
    masks = tail_masks(lags)

    def slope(curves: np.ndarray, mask: np.ndarray) -> float:  # curves [n_tw, n_lags] of Delta_AB
        ok = mask & np.all(curves > 0, axis=0)
        if ok.sum() < 1:
            return math.nan
        return float(np.mean([np.polyfit(log_tw, np.log(curves[:, j]), 1)[0] for j in np.flatnonzero(ok)]))

    n_pairs = min(len(s.distance_by_pair) for s in spreads)
    by_tw = [np.asarray(s.distance_by_pair)[:, np.isin(s.lags, shared)] for s in spreads]
    main = TAILS[0][0]
    per_pair = [slope(np.stack([b[p] for b in by_tw]), masks[main]) for p in range(n_pairs)]
    mean = np.stack([b.mean(axis=0) for b in by_tw])
    windows = {k: slope(mean, m) for k, m in masks.items() if k != main}
    out = {"tw": [s.tw for s in spreads], "lags": [int(shared[0]), int(shared[-1])],
           "slope": interval_of(per_pair, windows), "mu": None, "mu_state": None}
    gammas = [r.exponent["value"] for r in rs if r.exponent["value"] is not None]
    gamma = float(np.mean(gammas)) if gammas else math.nan
    sl = out["slope"]
    if sl["value"] is not None and math.isfinite(gamma) and gamma > CONFINED[1]:
        lo, hi = sorted((-sl["interval"][1] / gamma, -sl["interval"][0] / gamma))
        out["mu"] = {"value": -sl["value"] / gamma, "interval": [lo, hi], "gamma": gamma}
        out["mu_state"] = state_of(-sl["value"] / gamma, lo, hi)
    elif sl["value"] is not None:
        lo, hi = sl["interval"]
        out["mu_state"] = "ages" if hi < 0 else "zero" if lo <= 0 <= hi else "negative"
    return out


def _iv(e: dict | None) -> str:
    if not e or e.get("value") is None:
        return "-"
    return f"{e['value']:.2f} [{e['interval'][0]:.2f}, {e['interval'][1]:.2f}]"


def judge(gamma: dict | None, dep: dict | None, tw: int, n_tw: int) -> tuple[str, str]:
    """(verdict, reason) from the growth exponent's interval at the latest t_w and the t_w dependence
    ({"mu": {...} or None, "slope": {...}, "mu_state": ...}, None with one t_w).  The rule of the module
    docstring; shared by one run (pairs) and an ensemble (seeds)."""
    if not gamma or gamma.get("value") is None:
        return "undecided", "too few lags to fit the growth of Delta_AB"
    lo, hi = gamma["interval"]
    state = dep.get("mu_state") if dep else None
    g = f"Delta_AB ~ t^{_iv(gamma)} at t_w = {tw:,}"
    d = "" if dep is None else (f"; t_w dependence mu_AB = {_iv(dep['mu'])}" if dep.get("mu") else
                                f"; d log Delta_AB / d log t_w = {_iv(dep.get('slope'))}")
    if state == "ages":
        return "still aging", g + d + ": the spreading slows with t_w"
    if slope_state(lo, hi, DIFFUSIVE) == "diffusive":
        if state == "zero":
            return "diffusive", g + d + ": linear in t, independent of t_w"
        why = "one t_w: branch at 2-3 t_w to test t_w independence" if n_tw < 2 else "t_w dependence unresolved"
        return "undecided", g + d + f": linear in t, but {why}"
    if CONFINED[0] <= lo and hi <= CONFINED[1]:
        return "confined", g + d + ": Delta_AB saturates"
    return "undecided", g + d + ": neither linear in t nor saturated over this branch"


def verdict_on(spreads: list[Spreading], label: str) -> dict:
    """The verdict of one reading over the t_w of a run (the latest t_w is "the bottom")."""
    last = spreads[-1].readings.get(label)
    gamma = last.exponent if last else None
    dep = tw_dependence(spreads, label)
    by_tw = {str(s.tw): (s.readings[label].exponent if label in s.readings else None) for s in spreads}
    verdict_, reason = judge(gamma, dep, spreads[-1].tw, len(spreads))
    return {"label": label, "gamma": gamma, "gamma_by_tw": by_tw, "tw_dependence": dep,
            "verdict": verdict_, "reason": reason}


def verdict(spreads: list[Spreading]) -> dict:
    """The run's replica verdict: every reading's, and one overall (readings that disagree: undecided)."""
    if not spreads:
        return {"verdict": "none", "readings": {}}
    s0 = spreads[-1]
    per = {label: verdict_on(spreads, label) for label in s0.readings}
    said = {v["verdict"] for v in per.values()}
    overall = said.pop() if len(said) == 1 else "undecided"
    reason = ("; ".join(f"{k}: {v['verdict']}" for k, v in per.items()) if len(per) > 1
              else next(iter(per.values()))["reason"])
    return _json({"verdict": overall, "reason": reason, "sampler": s0.sampler, "branch_steps": s0.branch_steps,
                  "epoch": s0.epoch, "branch": branch_text(s0.sampler, s0.branch_steps, s0.epoch),
                  "tws": [s.tw for s in spreads], "readings": per})


def analyze_replicas(store: str | Path, out: str | Path | None = None) -> tuple[list[Spreading], dict]:
    """Every t_w of a run with two or more replicas: (the spreadings, oldest t_w first; the verdict)."""
    spreads = []
    for tw, paths in branch.find(store, out).items():
        if sum(1 for r in paths if r == "noise-on" or r.startswith("replica-")) >= 2:
            spreads.append(spreading(paths, tw))
    return spreads, verdict(spreads)


# ------------------------------------------------------------------ over seeds ---

def _over_seeds(values: list, windows: list[dict]) -> dict:
    """interval_of over seeds: the per-seed values, and as band the seed mean on each fit window."""
    labels = set.intersection(*[set(w) for w in windows]) if windows else set()
    mean_w = {k: float(np.nanmean([w[k] if w[k] is not None else math.nan for w in windows])) for k in sorted(labels)}
    return interval_of([v if v is not None else math.nan for v in values], mean_w)


def pooled(verdicts: list[dict | None]) -> dict | None:
    """The replica exponents of several seeds (each verdict()'s output, one run per seed, same preset):
    per reading the growth exponent at each t_w and the t_w dependence mu_AB, with the 95 % Student-t
    interval over seeds and the band over fit windows (the seed mean on each), and the verdict those
    intervals give (judge).  None when no seed has replicas."""
    vs = [v for v in verdicts if v and v.get("readings")]
    if not vs:
        return None
    labels = [k for k in vs[0]["readings"] if all(k in v["readings"] for v in vs)]
    out = {"n": len(vs), "sampler": vs[0]["sampler"], "branch": vs[0]["branch"], "tws": vs[0]["tws"], "readings": {}}
    for label in labels:
        rs = [v["readings"][label] for v in vs]
        gam = [r["gamma"] or {} for r in rs]
        gamma = _over_seeds([g.get("value") for g in gam], [g.get("windows") or {} for g in gam])
        by_tw = {}
        for tw in rs[0].get("gamma_by_tw") or {}:
            es = [(r.get("gamma_by_tw") or {}).get(tw) or {} for r in rs]
            by_tw[tw] = _over_seeds([e.get("value") for e in es], [e.get("windows") or {} for e in es])
        deps = [r.get("tw_dependence") for r in rs]
        dep = None
        if all(deps):
            mus = [d["mu"]["value"] if d.get("mu") else None for d in deps]
            dep = {"slope": _over_seeds([d["slope"]["value"] for d in deps], [d["slope"]["windows"] for d in deps]),
                   "mu": None, "mu_state": None}
            if all(m is not None for m in mus):
                dep["mu"] = interval_of(mus, {})
                dep["mu_state"] = state_of(dep["mu"]["value"], *dep["mu"]["interval"])
            elif dep["slope"]["value"] is not None:
                lo, hi = dep["slope"]["interval"]
                dep["mu_state"] = "ages" if hi < 0 else "zero" if lo <= 0 <= hi else "negative"
        v, why = judge(gamma, dep, int(vs[0]["tws"][-1]), len(vs[0]["tws"]))
        out["readings"][label] = {"gamma": gamma, "gamma_by_tw": by_tw, "tw_dependence": dep, "verdict": v, "reason": why}
    said = {r["verdict"] for r in out["readings"].values()}
    out["verdict"] = said.pop() if len(said) == 1 else "undecided"
    out["reason"] = "; ".join(f"{k}: {r['verdict']}" for k, r in out["readings"].items())
    return _json(out)
