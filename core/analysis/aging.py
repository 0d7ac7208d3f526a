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

from glasslab.core.analysis import checks, verdict_rule, windows
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

LABELS = ("aging", "interrupted aging (diffusive)", "time-translation invariant", "undecided",
          verdict_rule.TOO_SHORT, verdict_rule.D_FALLS)
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


def _state(fit: AgingFit, interval=None, null: float = 0.0) -> str:
    lo, hi = interval if interval is not None else _interval(fit, None, "")
    return windows.state_of(fit.mu - null, lo - null, hi - null, fit.at_bound)


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
    so_far: int | None = None  # a live run: the step its data reaches (verdict_rule.verdict_text)
    sufficiency: dict = None   # verdict_rule.check's result (None when the rule was not checked)

    def to_dict(self) -> dict:
        return to_dict(self)


def _iv_text(iv) -> str:
    return f"[{iv[0]:.2f}, {iv[1]:.2f}]"


_NAN_FIT = AgingFit(math.nan, math.nan, math.nan, 0, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))


def verdict(fit_all: AgingFit, fit_early: AgingFit, fit_intermediate: AgingFit,
            fit_late: AgingFit, late_slope: SlopeFit,
            fit_late_scaled: AgingFit | None = None, intervals: dict | None = None,
            slope_interval: tuple[float, float] | None = None, scaled: dict | None = None,
            bound: dict | None = None, enough: verdict_rule.Sufficiency | None = None,
            so_far: int | None = None, nulls: dict | None = None) -> Verdict:
    """Label the run from the collapse fits on the windows of aging_windows().

    Each fit is read through its interval (`intervals[name]`, the widest of mu +- 2 mu_err and the
    band over fit windows, core/analysis/windows.py; mu +- 2 mu_err when not given) and its state
    (windows.state_of: "ages" above 0, "zero" around 0 and nearer 0 than 1, "negative", "undecided",
    "at the bound"), read against `nulls[name]` where given (a Delta/D fit against the control, pure
    diffusion with the measured D) and against 0 elsewhere.  A fit at the bound, or with a window of
    its band at the bound (`bound[name]`: those windows), feeds no rule.  Rules, in this order:
    0. "too short to judge" when `enough` (verdict_rule.check) is not met: its reason names what is missing;
    1. "interrupted aging (diffusive)" ([BJ18]) if the early or intermediate third ages (on Delta, and
       on Delta / D(t_w) where `scaled` holds its fit: else a falling D may be all that moves), the late third
       is "zero" (on Delta, or on Delta / D(t_w) when `fit_late_scaled` is given: D(t_w) shifts log
       Delta of straight lines like a t_w dependence would), its interval lies wholly below the aged
       one's (the drop is resolved), and the late slope (late_time_slope on the late third,
       min_ratio = 0; its interval `slope_interval` when given) lies in [0.8, 1.2];
    2. "Delta ages; Delta/D does not" when mu over all t_w ages on Delta but is "zero" on
       Delta / D(t_w) (`scaled["all"]`, against its null): consistent with diffusion whose D falls
       with t_w;
    3. "time-translation invariant" if mu over all usable t_w is "zero";
    4. "aging" if it "ages" (simple aging, subaging [HMT22], uninterrupted aging);
    5. "undecided" otherwise: an interval that contains 0 but reaches half way to simple aging, a
       fit at its bound, or a negative mu.  Never "aging stops" on an interval that contains 0 and 1/2.
    so_far: a live run's last step, carried into the result ("aging, so far, at step S").
    Raises BadInput when the whole-window fit has no mu (fewer than two curves) and the rule is met.
    """
    if not np.isfinite(fit_all.mu) and (enough is None or enough.enough):
        raise BadInput("aging verdict needs at least two overlapping waiting-time curves")
    named = {"all": fit_all, "early": fit_early, "intermediate": fit_intermediate, "late": fit_late,
             "late_scaled": fit_late_scaled or _NAN_FIT, "all_scaled": _NAN_FIT,
             **{f"{k}_scaled": f for k, f in (scaled or {}).items()}}
    iv = {k: _interval(f, intervals, k) for k, f in named.items()}
    st = {k: ("at the bound" if (bound or {}).get(k) else _state(f, iv[k], (nulls or {}).get(k, 0.0)))
          for k, f in named.items()}
    lo, hi = DIFFUSIVE_SLOPE
    s_lo, s_hi = slope_interval if slope_interval is not None else (late_slope.slope, late_slope.slope)
    # A third ages when Delta does, and Delta/D too where it was fitted (else D alone may be what falls).
    aged = [k for k in ("early", "intermediate") if st[k] == "ages" and st.get(f"{k}_scaled", "ages") == "ages"]
    stopped = [(a, z) for a in aged for z in ("late", "late_scaled")
               if st[z] == "zero" and iv[z][1] < iv[a][0]]
    if enough is not None and not enough.enough:
        label, reason = LABELS[4], "; ".join(enough.missing)
    elif stopped and lo <= s_lo and s_hi <= hi:
        a, z = stopped[0]
        label = LABELS[1]
        reason = (f"the {a} third ages (interval {_iv_text(iv[a])}), the late third"
                  f"{' on Delta/D(t_w)' if z == 'late_scaled' else ''} is consistent with mu = 0 "
                  f"(interval {_iv_text(iv[z])}) and its late slope {late_slope.slope:.3g} "
                  f"(windows {s_lo:.3g}..{s_hi:.3g}) lies in [{lo}, {hi}]")
    elif st["all"] == "ages" and st["all_scaled"] == "zero":
        label = LABELS[5]
        reason = (f"{verdict_rule.D_FALLS_WORDS}: mu over all t_w = {fit_all.mu:.3g} on Delta (interval "
                  f"{_iv_text(iv['all'])}) but {named['all_scaled'].mu:.3g} on Delta/D(t_w) (interval "
                  f"{_iv_text(iv['all_scaled'])})")
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
        if (bound or {}).get("all") and not fit_all.at_bound:
            why = f"is no measurement: its {', '.join(bound['all'])} window stops at the bound of the mu grid"
        reason = f"mu over all t_w = {fit_all.mu:.3g}, interval {_iv_text(iv['all'])} {why}"
    return Verdict(label, reason, fit_all.mu, fit_all.mu_err, fit_early.mu, fit_early.mu_err,
                   fit_intermediate.mu, fit_intermediate.mu_err, fit_late.mu, fit_late.mu_err,
                   named["late_scaled"].mu, named["late_scaled"].mu_err, late_slope.slope, late_slope.slope_err,
                   st, {k: list(v) for k, v in iv.items()}, so_far,
                   None if enough is None else enough.to_dict())


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
            n_boot: int = 200, seed: int = 0, lag_max: str = "t_w", so_far: int | None = None) -> dict:
    """Every number of this module for one run, as a JSON-able dict (NaN -> None).

    Keys: "lag_max" and "fit_window" (the lag window of the collapse fits, in words), "tw_usable",
    "windows" (t_w of "all" and of each third), "aging" (AgingFit.to_dict per window, plus
    "late_scaled" on Delta / D(t_w) when D is given), "estimates" (windows.Estimate of each mu and
    of both slopes: stat error, band over fit windows, interval, state), "control" (the pure
    diffusion with the measured D through the late Delta/D fit; None without D), "late_slope"
    (t >> t_w, all lags), "late_tw_slope" (late third, used by the verdict), "slopes_by_tw",
    "diffusion_collapse", "loss", "relaxation" (these three None when their input is absent),
    "sufficiency" (verdict_rule.check: the run against the rule for a verdict), "verdict".
    lag_max = "t_w" (default) fits the collapse on lags t <= t_w, "all" on every lag; tw_window =
    (lo, hi) limits the waiting times; so_far: a live run's last step (its verdict says "so far, at
    step S").  "all_scaled" (all t_w on Delta / D(t_w)) is fitted on lags t <= t_w only: beyond, D has
    moved from D(t_w).  Raises BadInput with fewer than two usable curves.
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
        if lag_max == "t_w":
            for k in ("all", "early", "intermediate"):
                fits[f"{k}_scaled"] = fit_aging_exponent(steps, main, win[k], n_boot=n_boot, seed=seed, D=D)
                rows[f"{k}_scaled"] = win[k]
    # Delta/D(t_w) beyond t_w is known to mislead (a pure diffusion gives -0.5 there): a scaled fit's
    # band leaves the other lag window out under lag_max = "t_w".
    est = {k: windows.mu_estimate(steps, main, None if k.endswith("_scaled") and lag_max == "t_w" else other,
                                  f, rows[k], lag_max, D=D if k.endswith("_scaled") else None,
                                  variants=windows.fit_windows(steps, usable, win, k))
           for k, f in fits.items()}
    tails = windows.tail_windows(steps, usable)
    late_tw, est["late_tw_slope"] = _slope_estimate(steps, main, other, win["late"], lag_max, tails,
                                                    min_ratio=0.0)
    late_all, est["late_slope"] = _slope_estimate(steps, msd, None, usable, lag_max, tails)
    control = None
    if D is not None:
        # The null of the Delta/D fits: a pure diffusion with this D gives mu_c, not 0 (h(t/t_w) in
        # docs/science.md); a scaled fit's state is read against mu_c.
        ctrl = windows.limit_lags(steps, checks.diffusion_control_msd(steps, D), lag_max)
        control = {"what": "pure diffusion with the measured D, Delta = int 2 D(s) ds, "
                           "through the same Delta/D(t_w) fits"}
        for k in [k for k in fits if k.endswith("_scaled")]:
            c = fit_aging_exponent(steps, ctrl, rows[k], n_boot=0, D=D)
            control[f"mu_{k}"], control[f"{k}_at_bound"] = c.mu, c.at_bound
            control.setdefault("at_bound", c.at_bound)
            if math.isfinite(c.mu) and not c.at_bound:
                est[k] = windows.against(est[k], c.mu)
    intervals = {k: e.interval for k, e in est.items() if k in fits}
    bound = {k: list(e.bound_windows) for k, e in est.items() if k in fits and e.bound_windows}
    enough = verdict_rule.check(steps, main, usable, win)
    dc = None
    if D is not None:
        dc = diffusion_collapse(steps, main, D, win["late"]).to_dict()
        dc.update(verdict_rule.collapse_reading(dc, est["late_scaled"].state, windows.LAG_TEXT[lag_max]))
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
        "diffusion_collapse": dc,
        "sufficiency": enough.to_dict(),
        "loss": None if train_loss is None else loss_plateau(steps, train_loss).to_dict(),
        "relaxation": None if overlap is None else relaxation_times(steps, overlap),
        "verdict": verdict(fits["all"], fits["early"], fits["intermediate"], fits["late"],
                           late_tw, fits.get("late_scaled"), intervals, est["late_tw_slope"].interval,
                           {k[:-7]: f for k, f in fits.items() if k.endswith("_scaled") and k != "late_scaled"},
                           bound, enough, so_far,
                           {k: e.null for k, e in est.items() if k in fits}).to_dict(),
    }
    return _jsonable(out)
