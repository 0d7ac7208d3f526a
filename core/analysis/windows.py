"""Fit windows and the error model of every mu and slope glasslab quotes (docs/science.md, section 5).

Owns: the lag window of the collapse fits (lags t <= t_w by default: dividing by
D(t_w) means something only while D has not moved far from D(t_w)), the tail
windows of waiting times (last half, third, quarter of the usable log t_w
range), the systematic band of a number over those windows, the interval a
verdict reads (the widest of the bootstrap interval and the band), and the
state of an interval ("ages", "zero", "negative", "undecided", "at the bound").

Why a band: a bootstrap over the curves of one run understates the error.  On
the issue-23 audit run the bootstrap said +-0.02 while the same mu fitted on
other reasonable windows ranged from -0.13 to 0.70.  Pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from glasslab.core.analysis.collapse import AgingFit, fit_aging_exponent, to_dict

LAG_WINDOWS = ("t_w", "all")
LAG_TEXT = {"t_w": "lags t <= t_w", "all": "all lags"}
TAILS = (("last half", 1 / 2), ("last third", 1 / 3), ("last quarter", 1 / 4))
# An interval "is zero" when it contains 0 and stays nearer to no aging (mu = 0) than to simple
# aging (mu = 1) on both sides: |mu| < 1/2 everywhere in it.  Wider, it cannot tell the two apart.
HALF_WAY = 0.5
Z95 = 2.0  # the bootstrap part of an interval: mu +- 2 standard errors
# Student-t quantiles t_{0.975, n-1} for n = 2 ... 31 values (two-sided 95 %), from the standard
# tables; beyond 31 the normal value 1.96 is within 2 % of t.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def student_t975(n: int) -> float:
    """t_{0.975, n-1}: the half-width of a two-sided 95 % interval of a mean of n >= 2 values, in standard
    errors (NaN below 2)."""
    if n < 2:
        return math.nan
    return _T975[n - 2] if n - 2 < len(_T975) else 1.96


def limit_lags(steps, msd, lag_max: str = "t_w") -> np.ndarray:
    """msd with the entries outside the lag window set to NaN ("t_w": keep t = t' - t_w <= t_w)."""
    if lag_max not in LAG_WINDOWS:
        raise ValueError(f"lag_max must be one of {LAG_WINDOWS}, got {lag_max!r}")
    m = np.array(msd, dtype=np.float64)
    if lag_max == "all":
        return m
    s = np.asarray(steps, dtype=np.float64)
    lag = s[None, :] - s[:, None]
    return np.where(lag <= s[:, None], m, np.nan)


def other_lag_window(lag_max: str) -> str:
    return "all" if lag_max == "t_w" else "t_w"


def tail_windows(steps, rows) -> dict[str, np.ndarray]:
    """The rows whose log t_w lies in the last half, third and quarter of the rows' log t_w range."""
    rows = np.asarray(rows, dtype=int)
    if rows.size == 0:
        return {name: rows for name, _ in TAILS}
    s = np.log(np.asarray(steps, dtype=np.float64)[rows])
    a, b = s.min(), s.max()
    return {name: rows[s >= b - frac * (b - a) - 1e-12] for name, frac in TAILS}


# ---------------------------------------------------------------- estimates ---

@dataclass(frozen=True)
class Estimate:
    """One quoted number in three parts: value +- stat (bootstrap or OLS), the band over fit windows,
    and the interval a verdict reads (the widest of value +- 2 stat and the band)."""

    value: float
    stat: float
    band: tuple[float, float]      # min and max over the fit windows (the value's own window included)
    windows: dict                  # window label -> value on it
    bound_windows: tuple           # labels of windows whose fit stopped at the mu grid's bound
    interval: tuple[float, float]
    at_bound: bool                 # the value itself stopped at the bound
    state: str                     # see state_of
    null: float = 0.0              # what the state is read against (against(): a control's value)

    def to_dict(self) -> dict:
        d = to_dict(self)
        d["band"], d["interval"], d["bound_windows"] = list(self.band), list(self.interval), list(self.bound_windows)
        return d


def state_of(value: float, lo: float, hi: float, at_bound: bool = False) -> str:
    """"at the bound" (no minimum inside the grid: no measurement), "none" (no value), "ages" (the
    interval lies above 0), "negative" (below 0), "zero" (contains 0 and |mu| < 1/2 throughout), else
    "undecided" (contains 0 but reaches half way to simple aging: it cannot tell them apart)."""
    if at_bound:
        return "at the bound"
    if not math.isfinite(value):
        return "none"
    if lo > 0:
        return "ages"
    if hi < 0:
        return "negative"
    return "zero" if -HALF_WAY < lo and hi < HALF_WAY else "undecided"


def estimate(value: float, stat: float, windows: dict, at_bound: bool = False,
             bound_windows=()) -> Estimate:
    """An Estimate from a value, its statistical error and its values on other fit windows."""
    stat = stat if math.isfinite(stat) else 0.0
    vals = [v for v in [value, *windows.values()] if math.isfinite(v)]
    band = (min(vals), max(vals)) if vals else (math.nan, math.nan)
    lo = min(value - Z95 * stat, band[0]) if vals else math.nan
    hi = max(value + Z95 * stat, band[1]) if vals else math.nan
    # A window at the bound widens the interval by a number that is no measurement: the interval is
    # then none either, and its state says so (it feeds no verdict: core/analysis/verdict_rule.py).
    return Estimate(value, stat, band, dict(windows), tuple(bound_windows), (lo, hi), at_bound,
                    state_of(value, lo, hi, at_bound or bool(bound_windows)))


def fit_windows(steps, usable, win: dict, name: str) -> dict[str, np.ndarray]:
    """The other t_w windows a fit named `name` is checked on (its band), on the main lag window.

    "late" and "late_scaled": the last half, third and quarter of the usable log t_w range; "all" (and
    "all_scaled"):
    those and the three thirds of aging_windows (a pooled mu means little when its thirds disagree);
    "early", "intermediate": none (their lag-window variant only)."""
    if name not in ("all", "late", "late_scaled", "all_scaled"):
        return {}
    out = tail_windows(steps, usable)
    if name in ("all", "all_scaled"):
        out.update({f"{k} third": win[k] for k in ("early", "intermediate", "late")})
    return out


def mu_estimate(steps, msd_main, msd_other, fit: AgingFit, rows, lag_max: str, D=None,
                variants: dict | None = None) -> Estimate:
    """fit's mu with its bootstrap error and its band over the fit windows.

    Windows: the same t_w rows on the other lag window, and `variants` (label -> rows, fitted on the
    main lag window; fit_windows).  Each is a fit without bootstrap.  A window whose minimum sits on
    the grid's end counts in the band and is named in bound_windows.
    """
    windows, bounds = {}, []
    other = f"same t_w, {LAG_TEXT[other_lag_window(lag_max)]}"
    todo = ([(other, msd_other, rows)] if msd_other is not None else []) + [(k, msd_main, r) for k, r in (variants or {}).items()]
    for label, m, r in todo:
        if len(r) < 2:
            continue
        f = fit_aging_exponent(steps, m, r, n_boot=0, D=D)
        if math.isfinite(f.mu):
            windows[label] = f.mu
            if f.at_bound:
                bounds.append(label)
    return estimate(fit.mu, fit.mu_err, windows, fit.at_bound, bounds)


def against(e: Estimate, null: float) -> Estimate:
    """e with its state read against `null` instead of 0 (the value a control gives: a Delta/D fit
    against pure diffusion with the measured D): "zero" then means consistent with the control."""
    lo, hi = e.interval
    state = state_of(e.value - null, lo - null, hi - null, e.at_bound or bool(e.bound_windows))
    return replace(e, state=state, null=null)


def slope_state(lo: float, hi: float, diffusive: tuple[float, float] = (0.8, 1.2)) -> str:
    """What an interval of the slope d log Delta / d log t says: "diffusive" (inside [0.8, 1.2], the
    verdict's test), "sub-diffusive" (below it), "super-diffusive" (above it), else "undecided"."""
    if diffusive[0] <= lo and hi <= diffusive[1]:
        return "diffusive"
    if hi < diffusive[0]:
        return "sub-diffusive"
    if lo > diffusive[1]:
        return "super-diffusive"
    return "undecided"


def text(e: dict, digits: int = 2, slope: bool = False) -> str:
    """The three parts in words: "0.14 +- 0.02 (stat), windows -0.13..0.70, interval [...]"; a slope's
    interval is read against [0.8, 1.2] (diffusion), an exponent's against 0."""
    if e.get("value") is None:
        return "-"
    if e.get("at_bound"):
        return f"at the bound ({e['value']:.{digits}f}): no measurement"
    lo, hi = e["band"]
    stat = "-" if e["stat"] is None else f"{e['stat']:.{digits}f}"
    out = f"{e['value']:.{digits}f} ± {stat} (stat), windows {lo:.{digits}f}..{hi:.{digits}f}"
    if e.get("bound_windows"):
        out += f" ({', '.join(e['bound_windows'])} at the bound)"
    ilo, ihi = e["interval"]
    state = slope_state(ilo, ihi) if slope else e["state"]
    if state == "at the bound":
        state = "a window at the bound: no verdict from it"
    elif e.get("null"):
        state += f" (against pure diffusion with this D: {e['null']:.{digits}f})"
    return out + f"; interval [{ilo:.{digits}f}, {ihi:.{digits}f}]: {state}"
