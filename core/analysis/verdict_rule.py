"""When a verdict may be given: the one written rule (docs/science.md, section 5, "When a verdict may
be given") and the words every surface prints for a verdict.

Owns: the thresholds (MIN_TW_DECADES, MIN_LAG_DECADES, MIN_CURVES_PER_THIRD), the check of a run's
usable curves against them (`check`: what is missing, and about how many steps would supply it),
which fits may feed a verdict (`feeds`: none at the bound of the mu grid), the "so far, at step S"
of a live run, and the short labels of tables.  aging.analyze applies the rule; the console, analyze,
the runs table, glasslab.analyze and the sweep tables print `verdict_text` / `short_label` of its
result, so no surface judges on its own.  Pure numpy.

Inputs as in core/analysis/aging.py: `steps` int [K] (steps[0] == 0), `msd` [K, K] with
msd[i, j] = Delta(steps[i], steps[j]) for j > i, already limited to the fits' lag window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The verdict reads thirds of the log t_w range ([BJ18]'s three regimes): at 1.5 decades each third
# spans half a decade (a factor 3.2 in t_w).  Below that, the quickstart's own verdict flips as the
# run grows (docs/science.md: "aging" at 0.5 decade, "undecided" from 0.8 to 2.6 decades).
MIN_TW_DECADES = 1.5
# A curve counts when its lags in the fit window reach a factor 2 (t_w / 2 .. t_w under t <= t_w) with
# at least MIN_LAG_POINTS points: narrower, it gives its level at one lag, not its dependence on t.
MIN_LAG_DECADES = 0.3
MIN_LAG_POINTS = 2
# Each third's mu carries a bootstrap over its curves: with two curves there is one pair, no spread.
MIN_CURVES_PER_THIRD = 3

TOO_SHORT = "too short to judge"
D_FALLS = "Delta ages; Delta/D does not"
D_FALLS_WORDS = "consistent with diffusion whose D falls with t_w"
# For tables at 80 columns; the full label and its reason print under the table or in `analyze RUN`.
SHORT = {"interrupted aging (diffusive)": "aging ends", "time-translation invariant": "no aging (TTI)",
         D_FALLS: "D falls, no aging", TOO_SHORT: "too short"}


@dataclass(frozen=True)
class Sufficiency:
    """A run's usable curves against the rule: enough, or what is missing."""

    enough: bool
    tw_decades: float          # log10(t_w max / t_w min) over the usable t_w
    curves_per_third: tuple    # t_w with enough lags in the early, intermediate, late third
    lag_decades: float         # median lag span (decades) of the usable curves in the fit window
    missing: tuple             # one phrase per unmet condition
    steps_needed: int | None   # about how many steps the run needs for its t_w span (None: not the span)

    def to_dict(self) -> dict:
        return {"enough": self.enough, "tw_decades": self.tw_decades,
                "curves_per_third": list(self.curves_per_third), "lag_decades": self.lag_decades,
                "missing": list(self.missing), "steps_needed": self.steps_needed,
                "rule": {"min_tw_decades": MIN_TW_DECADES, "min_lag_decades": MIN_LAG_DECADES,
                         "min_lag_points": MIN_LAG_POINTS, "min_curves_per_third": MIN_CURVES_PER_THIRD}}


def lag_span(steps, msd, i: int) -> tuple[float, int]:
    """(decades spanned, number of points) of row i's valid lags (finite Delta > 0) in `msd`."""
    s = np.asarray(steps, dtype=np.float64)
    d = np.asarray(msd, dtype=np.float64)[i, i + 1:]
    lag = s[i + 1:] - s[i]
    lag = lag[np.isfinite(d) & (d > 0) & (lag > 0)]
    if lag.size == 0:
        return 0.0, 0
    return float(math.log10(lag.max() / lag.min())), int(lag.size)


def _round2(x: float) -> int:
    """Two significant figures: 632 -> 630, 31,620 -> 32,000."""
    if x <= 0:
        return 0
    p = 10 ** max(int(math.floor(math.log10(x))) - 1, 0)
    return int(round(x / p) * p)


def check(steps, msd, usable, thirds: dict) -> Sufficiency:
    """The usable t_w rows (`usable`, and `thirds` as collapse.aging_windows gives them) against the rule.

    Missing phrases name the number, what is needed and the steps that would supply a t_w span:
    't_w spans 0.46 decade; 1.5 needed (about 630 steps)'.  The steps: the usable t_w must reach
    t_w min * 10^1.5 and every usable t_w is <= t_last / 2, so t_last >= 2 t_w min 10^1.5."""
    s = np.asarray(steps, dtype=np.float64)
    usable = np.asarray(usable, dtype=int)
    missing, needed = [], None
    tw = s[usable] if usable.size else np.zeros(0)
    span = float(math.log10(tw.max() / tw.min())) if tw.size >= 2 and tw.min() > 0 else 0.0
    if span < MIN_TW_DECADES - 1e-9:
        needed = _round2(2 * (tw.min() if tw.size else max(s[1] if len(s) > 1 else 1, 1)) * 10 ** MIN_TW_DECADES)
        missing.append(f"t_w spans {span:.2g} decade; {MIN_TW_DECADES:g} needed (about {needed:,} steps)")
    spans = {int(i): lag_span(steps, msd, int(i)) for i in usable}
    ok = {i for i, (dec, n) in spans.items() if dec >= MIN_LAG_DECADES - 1e-9 and n >= MIN_LAG_POINTS}
    per = tuple(sum(int(i) in ok for i in thirds.get(k, [])) for k in ("early", "intermediate", "late"))
    short = [k for k, n in zip(("early", "intermediate", "late"), per) if n < MIN_CURVES_PER_THIRD]
    if short and usable.size:
        missing.append(f"t_w whose lags span {MIN_LAG_DECADES:g} decade with {MIN_LAG_POINTS}+ points: "
                       f"{'/'.join(map(str, per))} in the early/intermediate/late third; "
                       f"{MIN_CURVES_PER_THIRD} needed in each"
                       + ("" if needed else " (more snapshots per decade: recording.snapshots)"))
    lag_dec = float(np.median([d for d, _ in spans.values()])) if spans else 0.0
    return Sufficiency(not missing, span, per, lag_dec, tuple(missing), needed)


def feeds(state: str, bound_windows=()) -> bool:
    """Whether a fit may feed a verdict: it has a value, and neither it nor a window of its band stopped
    at the bound of the mu grid (a bound is no measurement, so the interval it widens is none either)."""
    return state not in ("at the bound", "none") and not bound_windows


def verdict_text(v: dict | None) -> str:
    """The verdict as every surface prints it: the label, and ', so far, at step S' for a live run."""
    if not v:
        return "-"
    so_far = v.get("so_far")
    return v["label"] + (f", so far, at step {so_far:,}" if so_far is not None else "")


def short_label(v: dict | None) -> str:
    """verdict_text with the label shortened for a table column ('aging ends', 'too short'); a live
    run's says 'so far'."""
    if not v:
        return "-"
    return SHORT.get(v["label"], v["label"]) + (", so far" if v.get("so_far") is not None else "")


# Curves "collapse" when they lie on top of each other within their error: no t_w dependence left
# that the fit resolves (mu on Delta/D(t_w) is "zero", windows.state_of) and an rms distance between
# curves under a tenth of a decade (a factor 1.26: on log-log axes spanning decades they are drawn
# on one another).  A cost ratio below 1 alone says only that dividing by D brings them closer.
COLLAPSE_DECADES = 0.1


def collapse_reading(dc: dict, scaled_state: str, lag_text: str) -> dict:
    """What the Delta/D(t_w) collapse (aging.diffusion_collapse's dict) says, in numbers and words.

    Returns "spread_decades" and "spread_raw_decades" (rms distance between curves, sqrt(cost) in
    log10 units, with and without the division), "collapses" (bool: the rule above) and "words", the
    one phrase the table row and the figure's panel title both print."""
    tw = dc.get("tw")
    tw = [] if tw is None else list(tw)
    where = f"late t_w {int(tw[0]):,}..{int(tw[-1]):,}, {lag_text}" if len(tw) else "late t_w"
    ratio, cs, cr = dc.get("ratio"), dc.get("cost_scaled"), dc.get("cost_raw")
    ok = ratio is not None and cs is not None and cr is not None and all(map(math.isfinite, (ratio, cs, cr)))
    if not ok:
        return {"spread_decades": None, "spread_raw_decades": None, "collapses": False,
                "words": f"{where}: no ratio (fewer than two curves with D)"}
    spread, raw = math.sqrt(cs) / math.log(10), math.sqrt(cr) / math.log(10)
    collapses = ratio < 1 and spread <= COLLAPSE_DECADES and scaled_state == "zero"
    nums = f"spread {spread:.2g} decade (Delta: {raw:.2g}), ratio {ratio:.3g}"
    if collapses:
        said = "collapses within the error"
    elif ratio < 1:
        why = (f"spread above {COLLAPSE_DECADES:g} decade" if spread > COLLAPSE_DECADES
               else f"its Delta/D fit {scaled_state}")
        said = f"closer, no collapse ({why})"
    else:
        said = "no collapse"
    return {"spread_decades": spread, "spread_raw_decades": raw, "collapses": collapses,
            "words": f"{said}: {nums}; {where}"}
