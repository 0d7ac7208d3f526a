"""Aging analysis of a run's snapshot arrays: the numbers behind the plots.

Owns: the collapse fit of the aging exponent mu (with a bootstrap error), the
late-time slope of log Delta versus log t, the Delta/D(t_w) collapse of the
diffusive regime, the loss-plateau test, the overlap relaxation times tau_90
and tau_e, and the verdict "aging" / "interrupted aging (diffusive)" /
"time-translation invariant".  Definitions are those of docs/science.md (section
5, the aging analysis).  Pure numpy; no plotting, no UI.

Inputs are the arrays of the run's Zarr store: `steps` int [K] (log-spaced,
steps[0] == 0); `msd` [K, K] with msd[i, j] = Delta(steps[i], steps[j]) for
j > i (NaN below the diagonal and where not yet measured); `overlap` [K, K]
likewise for Q; `D` [K]; `train_loss` [K].  Curve i is row i as a function of
the lag t = steps[j] - steps[i] > 0; NaN and non-positive Delta are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from glasslab.core.analysis.collapse import (
    AgingFit,
    aging_windows,
    collapse_cost,
    curve,
    fit_aging_exponent,
    to_dict,
    usable_waiting_times,
)
from glasslab.core.errors import BadInput

LABELS = ("aging", "interrupted aging (diffusive)", "time-translation invariant")
MU_ZERO_TOL = 0.1  # |mu| below max(MU_ZERO_TOL, 2 * mu_err) is "consistent with 0"
DIFFUSIVE_SLOPE = (0.8, 1.2)


# ---------------------------------------------------------------- slopes ---

@dataclass(frozen=True, eq=False)
class SlopeFit:
    """Slope of log Delta versus log t and where it was measured."""

    slope: float
    slope_err: float   # OLS standard error (points treated as independent: a lower bound)
    t_min: float       # lag range used
    t_max: float
    n_points: int
    tw: np.ndarray     # waiting times that contributed

    def to_dict(self) -> dict:
        return to_dict(self)


def late_time_slope(steps, msd, tw_indices=None, decades: float = 1.0,
                    min_ratio: float = 10.0) -> SlopeFit:
    """Slope a of log Delta = a log t + b_{t_w} in the late-lag regime.

    For each curve (row) i, the points used are the valid Delta whose lag t
    lies in the last `decades` of its measured lags, t_end / 10^decades <= t <=
    t_end, and satisfies t >= min_ratio * t_w (t >> t_w; min_ratio = 0 drops
    that condition).  One common slope a is fitted by least squares with a
    separate intercept per curve.  Diffusion gives a = 1 ([BJ18]: Delta ~ t at
    late times).  Default curves: usable_waiting_times(steps, msd).
    """
    steps_f = np.asarray(steps, dtype=np.float64)
    rows = usable_waiting_times(steps, msd) if tw_indices is None else np.asarray(tw_indices, int)
    uc, yc, ts, tws = [], [], [], []
    for i in rows:
        u, y = curve(steps, msd, i)
        if u.size == 0:
            continue
        sel = (u >= u[-1] - decades * math.log(10) - 1e-12)
        if min_ratio > 0 and steps_f[i] > 0:
            sel &= u >= math.log(min_ratio * steps_f[i]) - 1e-12
        if sel.sum() >= 2:
            u, y = u[sel], y[sel]
            uc.append(u - u.mean())
            yc.append(y - y.mean())
            ts.append(np.exp(u))
            tws.append(steps_f[i])
    if not uc:
        return SlopeFit(math.nan, math.nan, math.nan, math.nan, 0, np.zeros(0))
    uc, yc, ts = np.concatenate(uc), np.concatenate(yc), np.concatenate(ts)
    sxx = float(uc @ uc)
    slope = float(uc @ yc) / sxx
    dof = uc.size - len(tws) - 1
    resid = yc - slope * uc
    err = math.sqrt(float(resid @ resid) / dof / sxx) if dof > 0 else math.nan
    return SlopeFit(slope, err, float(ts.min()), float(ts.max()), int(uc.size), np.array(tws))


def slopes_by_tw(steps, msd, decades: float = 1.0) -> dict[str, np.ndarray]:
    """For every row i: the slope of log Delta vs log t over the last `decades` of its lags.

    late_time_slope on the single curve i with min_ratio = 0.  Returns arrays
    "tw", "slope", "slope_err" over all K rows (NaN where < 2 points).
    """
    steps_f = np.asarray(steps, dtype=np.float64)
    fits = [late_time_slope(steps, msd, [i], decades, 0.0) for i in range(len(steps_f))]
    return {"tw": steps_f, "slope": np.array([f.slope for f in fits]),
            "slope_err": np.array([f.slope_err for f in fits])}


# -------------------------------------------------------------- diffusion ---

@dataclass(frozen=True, eq=False)
class DiffusionCollapse:
    """collapse_cost at mu = 0 of log Delta (raw) and of log(Delta / D(t_w)) (scaled)."""

    cost_raw: float
    cost_scaled: float
    ratio: float       # cost_scaled / cost_raw; < 1 when dividing by D helps
    tw: np.ndarray

    def to_dict(self) -> dict:
        return to_dict(self)


def diffusion_collapse(steps, msd, D, tw_indices=None, dx: float = 0.05) -> DiffusionCollapse:
    """How well Delta(t_w, t_w + t) / D(t_w) collapses as a function of t alone.

    [BJ18]: in the diffusive regime the curves Delta/D(t_w) versus t collapse
    ("interrupted aging").  Both costs are collapse_cost with mu = 0, on the
    same curves (those with finite D > 0); default curves: the late third of
    aging_windows(usable_waiting_times(steps, msd)).
    """
    if tw_indices is None:
        tw_indices = aging_windows(steps, usable_waiting_times(steps, msd))["late"]
    D = np.asarray(D, dtype=np.float64)
    rows = np.array([i for i in tw_indices if np.isfinite(D[i]) and D[i] > 0], dtype=int)
    raw = collapse_cost(steps, msd, 0.0, rows, dx=dx)
    scaled = collapse_cost(steps, msd, 0.0, rows, D=D, dx=dx)
    ratio = scaled / raw if raw > 0 else math.nan
    return DiffusionCollapse(raw, scaled, ratio, np.asarray(steps, dtype=np.float64)[rows])


# ------------------------------------------------------------------- loss ---

@dataclass(frozen=True)
class LossPlateau:
    """Result of loss_plateau."""

    final_loss: float
    loss_decade_ago: float  # loss at t_end / 10^decades, linear in log t between snapshots
    rel_drop: float         # (loss_decade_ago - final_loss) / |loss_decade_ago|
    still_falling: bool     # rel_drop > threshold
    t_start: float
    t_end: float

    def to_dict(self) -> dict:
        return to_dict(self)


def loss_plateau(steps, train_loss, decades: float = 1.0, threshold: float = 0.1) -> LossPlateau:
    """Final train loss and whether it still falls over the last decade of t.

    t_end is the last snapshot with a finite loss, t_start = t_end / 10^decades
    (not before the first positive snapshot); L(t_start) is linearly
    interpolated in log t.  Still falling when the relative drop
    (L(t_start) - L(t_end)) / |L(t_start)| exceeds `threshold` (default 10% per
    decade).  [BJ18]: over-parametrised nets approach zero loss, under-
    parametrised ones stay on a non-zero plateau.
    """
    t = np.asarray(steps, dtype=np.float64)
    loss = np.asarray(train_loss, dtype=np.float64)
    ok = np.isfinite(loss) & (t > 0)
    if not ok.any():
        return LossPlateau(math.nan, math.nan, math.nan, False, math.nan, math.nan)
    lt, ll = np.log(t[ok]), loss[ok]
    t_end = float(t[ok][-1])
    t_start = float(max(t_end / 10 ** decades, t[ok][0]))
    l0, l1 = float(np.interp(math.log(t_start), lt, ll)), float(ll[-1])
    rel = (l0 - l1) / abs(l0) if l0 != 0 else 0.0
    return LossPlateau(l1, l0, rel, bool(rel > threshold), t_start, t_end)


# ------------------------------------------------------------- relaxation ---

def _first_crossing(lag, q, level: float) -> float:
    ok = np.isfinite(q) & (lag > 0)
    lag, q = lag[ok], q[ok]
    below = np.flatnonzero(q < level)
    if below.size == 0 or below[0] == 0:
        return math.nan
    k = below[0]
    la, lb = math.log(lag[k - 1]), math.log(lag[k])
    return math.exp(la + (q[k - 1] - level) / (q[k - 1] - q[k]) * (lb - la))


def relaxation_times(steps, overlap) -> dict[str, np.ndarray]:
    """tau_90 and tau_e of the overlap Q(t_w, t_w + t) for every row ([KWJ24]).

    tau_c is the first lag t with Q < c (c = 0.9, 1/e), located by linear
    interpolation of Q in log t between the last snapshot with Q >= c and the
    first with Q < c.  NaN when Q never drops below c, and also when it is
    already below c at the first measured lag (tau unresolved).  Returns
    arrays "tw" (= steps), "tau_90", "tau_e" of length K.
    """
    t = np.asarray(steps, dtype=np.float64)
    Q = np.asarray(overlap, dtype=np.float64)
    tau = {0.9: [], 1 / math.e: []}
    for i in range(len(t)):
        for c in tau:
            tau[c].append(_first_crossing(t[i + 1:] - t[i], Q[i, i + 1:], c))
    return {"tw": t, "tau_90": np.array(tau[0.9]), "tau_e": np.array(tau[1 / math.e])}


# ---------------------------------------------------------------- verdict ---

def _zero(fit: AgingFit) -> bool:
    if fit.at_bound:  # no minimum inside the mu range: the fit says nothing
        return False
    err = fit.mu_err if np.isfinite(fit.mu_err) else 0.0
    return bool(np.isfinite(fit.mu) and abs(fit.mu) < max(MU_ZERO_TOL, 2 * err))


def _ages(fit: AgingFit) -> bool:
    if fit.at_bound:
        return False
    err = fit.mu_err if np.isfinite(fit.mu_err) else 0.0
    return bool(np.isfinite(fit.mu) and fit.mu >= max(MU_ZERO_TOL, 2 * err))


@dataclass(frozen=True)
class Verdict:
    """The label of verdict() and the numbers it was decided on."""

    label: str          # one of LABELS
    reason: str
    mu_all: float
    mu_all_err: float
    mu_early: float
    mu_early_err: float
    mu_intermediate: float
    mu_intermediate_err: float
    mu_late: float
    mu_late_err: float
    mu_late_scaled: float      # late third fitted on Delta / D(t_w); NaN without D
    mu_late_scaled_err: float
    late_slope: float
    late_slope_err: float

    def to_dict(self) -> dict:
        return to_dict(self)


def verdict(fit_all: AgingFit, fit_early: AgingFit, fit_intermediate: AgingFit,
            fit_late: AgingFit, late_slope: SlopeFit,
            fit_late_scaled: AgingFit | None = None) -> Verdict:
    """Label the run from the collapse fits on the windows of aging_windows().

    A fit is "consistent with 0" when |mu| < max(0.1, 2 mu_err), and "ages"
    when mu >= max(0.1, 2 mu_err).  Rules, in this order:
    1. "interrupted aging (diffusive)" ([BJ18]) if the early or intermediate
       third ages, the late third is consistent with 0 (on Delta, or on
       Delta / D(t_w) when `fit_late_scaled` is given: D(t_w) shifts log Delta
       of straight lines like a t_w dependence would), and the late slope
       (late_time_slope on the late third, min_ratio = 0) lies in [0.8, 1.2];
    2. "time-translation invariant" if mu over the whole window is consistent with 0;
    3. "aging" otherwise (simple aging, subaging [HMT22], uninterrupted aging).
    Raises BadInput when the whole-window fit has no mu (fewer than two curves).
    """
    if not np.isfinite(fit_all.mu):
        raise BadInput("aging verdict needs at least two overlapping waiting-time curves")
    scaled = fit_late_scaled if fit_late_scaled is not None else AgingFit(
        math.nan, math.nan, math.nan, 0, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    lo, hi = DIFFUSIVE_SLOPE
    late_zero = _zero(fit_late) or _zero(scaled)
    if ((_ages(fit_early) or _ages(fit_intermediate)) and late_zero
            and lo <= late_slope.slope <= hi):
        label = LABELS[1]
        reason = (f"ages before the late third, the late third is consistent with mu = 0 "
                  f"and its late slope (d log Delta / d log t over the late third's t_w) "
                  f"{late_slope.slope:.3g} lies in [{lo}, {hi}]")
    elif _zero(fit_all):
        label = LABELS[2]
        reason = f"mu = {fit_all.mu:.3g} +- {fit_all.mu_err:.2g} is consistent with 0"
    else:
        label = LABELS[0]
        reason = f"mu = {fit_all.mu:.3g} +- {fit_all.mu_err:.2g} is not consistent with 0"
    return Verdict(label, reason, fit_all.mu, fit_all.mu_err, fit_early.mu, fit_early.mu_err,
                   fit_intermediate.mu, fit_intermediate.mu_err, fit_late.mu, fit_late.mu_err,
                   scaled.mu, scaled.mu_err, late_slope.slope, late_slope.slope_err)


# ---------------------------------------------------------------- analyze ---

def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def analyze(steps, msd, D=None, overlap=None, train_loss=None, tw_window=None,
            n_boot: int = 200, seed: int = 0) -> dict:
    """Every number of this module for one run, as a JSON-able dict (NaN -> None).

    Keys: "tw_usable", "windows" (t_w of "all" and of each third), "aging"
    (AgingFit.to_dict per window, plus "late_scaled" on Delta / D(t_w) when D
    is given), "late_slope" (t >> t_w), "late_tw_slope" (late third, used by
    the verdict), "slopes_by_tw", "diffusion_collapse", "loss", "relaxation"
    (these three None when their input is absent), "verdict".  tw_window = (lo, hi) limits
    the waiting times.  Raises BadInput with fewer than two usable curves.
    """
    steps = np.asarray(steps)
    usable = usable_waiting_times(steps, msd, tw_window=tw_window)
    if usable.size < 2:
        raise BadInput(f"aging analysis needs two waiting times t_w <= t_last/2 with two valid "
                       f"Delta each, found {usable.size}: let the run go on")
    win = aging_windows(steps, usable)
    fits = {k: fit_aging_exponent(steps, msd, v, n_boot=n_boot, seed=seed) for k, v in win.items()}
    if D is not None:
        fits["late_scaled"] = fit_aging_exponent(steps, msd, win["late"], n_boot=n_boot,
                                                 seed=seed, D=D)
    late_tw = late_time_slope(steps, msd, win["late"], min_ratio=0.0)
    out = {
        "tw_usable": steps[usable],
        "windows": {k: steps[v] for k, v in win.items()},
        "aging": {k: f.to_dict() for k, f in fits.items()},
        "late_slope": late_time_slope(steps, msd, usable).to_dict(),
        "late_tw_slope": late_tw.to_dict(),
        "slopes_by_tw": slopes_by_tw(steps, msd),
        "diffusion_collapse": None if D is None else
        diffusion_collapse(steps, msd, D, win["late"]).to_dict(),
        "loss": None if train_loss is None else loss_plateau(steps, train_loss).to_dict(),
        "relaxation": None if overlap is None else relaxation_times(steps, overlap),
        "verdict": verdict(fits["all"], fits["early"], fits["intermediate"], fits["late"],
                           late_tw, fits.get("late_scaled")).to_dict(),
    }
    return _jsonable(out)
