"""The loss plateau test and the overlap relaxation times tau_90, tau_e of a run (docs/science.md, section 5).

Split from core/analysis/aging.py (which re-exports both); pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from glasslab.core.analysis.collapse import to_dict

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
