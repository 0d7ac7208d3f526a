"""Aging analysis of a run's snapshot arrays: the numbers behind the plots.

Owns: the collapse fit of the aging exponent mu (with a bootstrap error), the
late-time slope of log Delta versus log t, the Delta/D(t_w) collapse of the
diffusive regime, the loss-plateau test, the overlap relaxation times tau_90
and tau_e, and the verdict "aging" / "interrupted aging (diffusive)" /
"time-translation invariant" / "undecided", read from intervals that include
the spread over fit windows (core/analysis/windows.py).  Definitions are those of docs/science.md (section
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

from glasslab.core.analysis import checks, windows
from glasslab.core.analysis.collapse import (
    AgingFit,
    aging_windows,
    collapse_cost,
    curve,
    fit_aging_exponent,
    to_dict,
    usable_waiting_times,
)
from glasslab.core.analysis.relaxation import loss_plateau, relaxation_times
from glasslab.core.errors import BadInput

LABELS = ("aging", "interrupted aging (diffusive)", "time-translation invariant", "undecided")
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


# ---------------------------------------------------------------- verdict ---

def _interval(fit: AgingFit, intervals: dict | None, name: str) -> tuple[float, float]:
    if intervals and intervals.get(name) is not None:
        return tuple(intervals[name])
    err = fit.mu_err if np.isfinite(fit.mu_err) else 0.0
    return (fit.mu - windows.Z95 * err, fit.mu + windows.Z95 * err)


def _state(fit: AgingFit, interval=None) -> str:
    lo, hi = interval if interval is not None else _interval(fit, None, "")
    return windows.state_of(fit.mu, lo, hi, fit.at_bound)


def _zero(fit: AgingFit) -> bool:
    return _state(fit) == "zero"


def _ages(fit: AgingFit) -> bool:
    return _state(fit) == "ages"


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
    states: dict = None        # fit name -> windows.state_of its interval
    intervals: dict = None     # fit name -> [lo, hi], the interval the state was read from

    def to_dict(self) -> dict:
        return to_dict(self)


def _iv_text(iv) -> str:
    return f"[{iv[0]:.2f}, {iv[1]:.2f}]"


def verdict(fit_all: AgingFit, fit_early: AgingFit, fit_intermediate: AgingFit,
            fit_late: AgingFit, late_slope: SlopeFit,
            fit_late_scaled: AgingFit | None = None, intervals: dict | None = None,
            slope_interval: tuple[float, float] | None = None) -> Verdict:
    """Label the run from the collapse fits on the windows of aging_windows().

    Each fit is read through its interval (`intervals[name]`, the widest of mu +- 2 mu_err and the
    band over fit windows, core/analysis/windows.py; mu +- 2 mu_err when not given) and its state
    (windows.state_of: "ages" above 0, "zero" around 0 and nearer 0 than 1, "negative", "undecided",
    "at the bound").  Rules, in this order:
    1. "interrupted aging (diffusive)" ([BJ18]) if the early or intermediate third ages, the late third
       is "zero" (on Delta, or on Delta / D(t_w) when `fit_late_scaled` is given: D(t_w) shifts log
       Delta of straight lines like a t_w dependence would), its interval lies wholly below the aged
       one's (the drop is resolved), and the late slope (late_time_slope on the late third,
       min_ratio = 0; its interval `slope_interval` when given) lies in [0.8, 1.2];
    2. "time-translation invariant" if mu over all usable t_w is "zero";
    3. "aging" if it "ages" (simple aging, subaging [HMT22], uninterrupted aging);
    4. "undecided" otherwise: an interval that contains 0 but reaches half way to simple aging, a
       fit at its bound, or a negative mu.  Never "aging stops" on an interval that contains 0 and 1/2.
    Raises BadInput when the whole-window fit has no mu (fewer than two curves).
    """
    if not np.isfinite(fit_all.mu):
        raise BadInput("aging verdict needs at least two overlapping waiting-time curves")
    scaled = fit_late_scaled if fit_late_scaled is not None else AgingFit(
        math.nan, math.nan, math.nan, 0, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    named = {"all": fit_all, "early": fit_early, "intermediate": fit_intermediate, "late": fit_late,
             "late_scaled": scaled}
    iv = {k: _interval(f, intervals, k) for k, f in named.items()}
    st = {k: _state(f, iv[k]) for k, f in named.items()}
    lo, hi = DIFFUSIVE_SLOPE
    s_lo, s_hi = slope_interval if slope_interval is not None else (late_slope.slope, late_slope.slope)
    aged = [k for k in ("early", "intermediate") if st[k] == "ages"]
    stopped = [(a, z) for a in aged for z in ("late", "late_scaled")
               if st[z] == "zero" and iv[z][1] < iv[a][0]]
    if stopped and lo <= s_lo and s_hi <= hi:
        a, z = stopped[0]
        label = LABELS[1]
        reason = (f"the {a} third ages (interval {_iv_text(iv[a])}), the late third"
                  f"{' on Delta/D(t_w)' if z == 'late_scaled' else ''} is consistent with mu = 0 "
                  f"(interval {_iv_text(iv[z])}) and its late slope {late_slope.slope:.3g} "
                  f"(windows {s_lo:.3g}..{s_hi:.3g}) lies in [{lo}, {hi}]")
    elif st["all"] == "zero":
        label = LABELS[2]
        reason = f"mu = {fit_all.mu:.3g}, interval {_iv_text(iv['all'])} contains 0 and stays within ±0.5"
    elif st["all"] == "ages":
        label = LABELS[0]
        reason = f"mu = {fit_all.mu:.3g}, interval {_iv_text(iv['all'])} lies above 0"
    else:
        label = LABELS[3]
        why = {"at the bound": "stops at the bound of the mu grid (no measurement)",
               "negative": "lies below 0 (older curves move faster)",
               "undecided": "contains 0 but reaches half way to simple aging"}[st["all"]]
        reason = f"mu over all t_w = {fit_all.mu:.3g}, interval {_iv_text(iv['all'])} {why}"
    return Verdict(label, reason, fit_all.mu, fit_all.mu_err, fit_early.mu, fit_early.mu_err,
                   fit_intermediate.mu, fit_intermediate.mu_err, fit_late.mu, fit_late.mu_err,
                   scaled.mu, scaled.mu_err, late_slope.slope, late_slope.slope_err,
                   st, {k: list(v) for k, v in iv.items()})


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


def _slope_estimate(steps, msd_main, msd_other, rows, lag_max, tails, **kw):
    """A slope with its OLS error and its band over the fit windows (as windows.mu_estimate)."""
    fit = late_time_slope(steps, msd_main, rows, **kw)
    other = f"same t_w, {windows.LAG_TEXT[windows.other_lag_window(lag_max)]}"
    variants = {other: (msd_other, rows)} if msd_other is not None else {}
    variants.update({k: (msd_main, r) for k, r in tails.items()})
    vals = {k: late_time_slope(steps, m, r, **kw).slope for k, (m, r) in variants.items() if len(r)}
    e = windows.estimate(fit.slope, fit.slope_err, vals)
    return fit, e


def analyze(steps, msd, D=None, overlap=None, train_loss=None, tw_window=None,
            n_boot: int = 200, seed: int = 0, lag_max: str = "t_w") -> dict:
    """Every number of this module for one run, as a JSON-able dict (NaN -> None).

    Keys: "lag_max" and "fit_window" (the lag window of the collapse fits, in words), "tw_usable",
    "windows" (t_w of "all" and of each third), "aging" (AgingFit.to_dict per window, plus
    "late_scaled" on Delta / D(t_w) when D is given), "estimates" (windows.Estimate of each mu and
    of both slopes: stat error, band over fit windows, interval, state), "control" (the pure
    diffusion with the measured D through the late Delta/D fit; None without D), "late_slope"
    (t >> t_w, all lags), "late_tw_slope" (late third, used by the verdict), "slopes_by_tw",
    "diffusion_collapse", "loss", "relaxation" (these three None when their input is absent),
    "verdict".  lag_max = "t_w" (default) fits the collapse on lags t <= t_w, "all" on every lag;
    tw_window = (lo, hi) limits the waiting times.  Raises BadInput with fewer than two usable curves.
    """
    steps = np.asarray(steps)
    usable = usable_waiting_times(steps, msd, tw_window=tw_window)
    if usable.size < 2:
        raise BadInput(f"aging analysis needs two waiting times t_w <= t_last/2 with two valid "
                       f"Delta each, found {usable.size}: let the run go on")
    main = windows.limit_lags(steps, msd, lag_max)
    other = windows.limit_lags(steps, msd, windows.other_lag_window(lag_max))
    win = aging_windows(steps, usable)
    fits = {k: fit_aging_exponent(steps, main, v, n_boot=n_boot, seed=seed) for k, v in win.items()}
    rows = dict(win)
    if D is not None:
        fits["late_scaled"] = fit_aging_exponent(steps, main, win["late"], n_boot=n_boot,
                                                 seed=seed, D=D)
        rows["late_scaled"] = win["late"]
    est = {k: windows.mu_estimate(steps, main, other, f, rows[k], lag_max,
                                  D=D if k == "late_scaled" else None,
                                  variants=windows.fit_windows(steps, usable, win, k))
           for k, f in fits.items()}
    tails = windows.tail_windows(steps, usable)
    late_tw, est["late_tw_slope"] = _slope_estimate(steps, main, other, win["late"], lag_max, tails,
                                                    min_ratio=0.0)
    late_all, est["late_slope"] = _slope_estimate(steps, msd, None, usable, lag_max, tails)
    control = None
    if D is not None:
        ctrl = windows.limit_lags(steps, checks.diffusion_control_msd(steps, D), lag_max)
        c = fit_aging_exponent(steps, ctrl, win["late"], n_boot=0, D=D)
        control = {"what": "pure diffusion with the measured D, Delta = int 2 D(s) ds, "
                           "through the late Delta/D(t_w) fit",
                   "mu_late_scaled": c.mu, "at_bound": c.at_bound}
    intervals = {k: e.interval for k, e in est.items() if k in fits}
    out = {
        "lag_max": lag_max,
        "fit_window": (f"collapse fits on {windows.LAG_TEXT[lag_max]} (lag_max = {lag_max!r}); "
                       f"the late slope over all t_w keeps t >= 10 t_w on all lags"),
        "tw_usable": steps[usable],
        "windows": {k: steps[v] for k, v in win.items()},
        "aging": {k: f.to_dict() for k, f in fits.items()},
        "estimates": {k: e.to_dict() for k, e in est.items()},
        "control": control,
        "late_slope": late_all.to_dict(),
        "late_tw_slope": late_tw.to_dict(),
        "slopes_by_tw": slopes_by_tw(steps, msd),
        "diffusion_collapse": None if D is None else
        diffusion_collapse(steps, main, D, win["late"]).to_dict(),
        "loss": None if train_loss is None else loss_plateau(steps, train_loss).to_dict(),
        "relaxation": None if overlap is None else relaxation_times(steps, overlap),
        "verdict": verdict(fits["all"], fits["early"], fits["intermediate"], fits["late"],
                           late_tw, fits.get("late_scaled"), intervals,
                           est["late_tw_slope"].interval).to_dict(),
    }
    return _jsonable(out)
