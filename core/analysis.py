"""Aging analysis of a run's snapshot arrays: the numbers behind the plots.

Owns: the collapse fit of the aging exponent mu (with a bootstrap error), the
late-time slope of log Delta versus log t, the Delta/D(t_w) collapse of the
diffusive regime, the loss-plateau test, the overlap relaxation times tau_90
and tau_e, and the verdict "aging" / "interrupted aging (diffusive)" /
"time-translation invariant".  Definitions are those of SCIENCE.md ("Aging
analysis", "What the papers found").  Pure numpy; no plotting, no UI.

Inputs are the arrays of the run's Zarr store: `steps` int [K] (log-spaced,
steps[0] == 0); `msd` [K, K] with msd[i, j] = Delta(steps[i], steps[j]) for
j > i (NaN below the diagonal and where not yet measured); `overlap` [K, K]
likewise for Q; `D` [K]; `train_loss` [K].  Curve i is row i as a function of
the lag t = steps[j] - steps[i] > 0; NaN and non-positive Delta are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from .errors import BadInput

LABELS = ("aging", "interrupted aging (diffusive)", "time-translation invariant")
# mu < 0 is allowed so that mu = 0 is an interior minimum and its error is honest.
DEFAULT_MU_GRID = np.round(np.linspace(-0.5, 1.5, 201), 12)
MU_ZERO_TOL = 0.1  # |mu| below max(MU_ZERO_TOL, 2 * mu_err) is "consistent with 0"
DIFFUSIVE_SLOPE = (0.8, 1.2)


def _to_dict(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


# ----------------------------------------------------------------- curves ---

def _curve(steps, msd, i):
    """Row i as (log t, log Delta) over lags t = steps[j] - steps[i] > 0, valid Delta > 0."""
    lag = np.asarray(steps, dtype=np.float64)[i + 1:] - float(steps[i])
    d = np.asarray(msd, dtype=np.float64)[i, i + 1:]
    ok = (lag > 0) & np.isfinite(d) & (d > 0)
    return np.log(lag[ok]), np.log(d[ok])


def usable_waiting_times(steps, msd, min_points: int = 2, tw_window=None) -> np.ndarray:
    """Row indices i whose curve can enter a collapse fit.

    Kept: t_w = steps[i] > 0 (log t_w must exist), at least `min_points` valid
    Delta (finite, > 0), t_w <= t_last / 2 with t_last the latest snapshot with
    any valid Delta (so every lag range reaches t >= t_w; [BJ18] took t_w up to
    t_max / 2), and tw_window = (lo, hi) inclusive when given.
    """
    steps = np.asarray(steps, dtype=np.float64)
    m = np.asarray(msd, dtype=np.float64)
    valid = np.isfinite(m) & (m > 0) & np.triu(np.ones(m.shape, bool), 1)
    cols = np.flatnonzero(valid.any(axis=0))
    if cols.size == 0:
        return np.zeros(0, dtype=int)
    t_last = steps[cols[-1]]
    keep = (steps > 0) & (valid.sum(axis=1) >= min_points) & (steps <= t_last / 2)
    if tw_window is not None:
        keep &= (steps >= tw_window[0]) & (steps <= tw_window[1])
    return np.flatnonzero(keep)


def aging_windows(steps, tw_indices) -> dict[str, np.ndarray]:
    """Split waiting times into thirds of their log t_w range.

    With a = min log t_w and b = max log t_w over `tw_indices`: early is
    log t_w <= a + (b-a)/3, intermediate up to a + 2(b-a)/3, late the rest;
    "all" is every index.  The thirds mirror [BJ18]'s three regimes of Delta.
    """
    idx = np.asarray(tw_indices, dtype=int)
    if idx.size == 0:
        e = np.zeros(0, dtype=int)
        return {"all": e, "early": e, "intermediate": e, "late": e}
    s = np.log(np.asarray(steps, dtype=np.float64)[idx])
    a, b = s.min(), s.max()
    c1, c2 = a + (b - a) / 3, a + 2 * (b - a) / 3
    return {"all": idx, "early": idx[s <= c1], "intermediate": idx[(s > c1) & (s <= c2)],
            "late": idx[s > c2]}


# -------------------------------------------------------------- collapse ---

class _Collapse:
    """Curves y_k(x) with x = log t - mu log t_w, and their pair spread at any mu.

    cost(mu) is collapse_cost; pair_matrices_of(M, Y) returns A[k, l] = int (y_k - y_l)^2
    dx and L[k, l] = length of the overlap of curves k and l (diagonals zero),
    so that cost = w.A.w / w.L.w for curve weights w (bootstrap).  Curves are
    linearly interpolated in x on a grid of step dx; each grid cell counts with
    the fraction of it that a curve covers, so the cost is continuous in mu.
    """

    def __init__(self, us, ys, log_tw, dx: float):
        centre = np.mean(np.concatenate(ys))  # less cancellation in A
        self.s, self.dx = np.asarray(log_tw, dtype=np.float64), dx
        self.u0 = np.array([u[0] for u in us])
        self.u1 = np.array([u[-1] for u in us])
        # all curves in one increasing abscissa, curve k moved by k * gap, so that
        # a single np.interp serves them all
        self.gap = 2.0 * (self.u1.max() - self.u0.min()) + 1.0
        self.uu = np.concatenate([u + k * self.gap for k, u in enumerate(us)])
        self.yy = np.concatenate(ys) - centre

    def _sample(self, mu: float):
        """Coverage M [n, G] and values Y [n, G] of the curves on the x grid."""
        dx = self.dx
        lo, hi = self.u0 - mu * self.s, self.u1 - mu * self.s
        x0 = math.floor(lo.min() / dx) * dx
        grid = x0 + dx * np.arange(int(math.ceil((hi.max() - x0) / dx)) + 1)
        u = np.clip(grid + mu * self.s[:, None], self.u0[:, None], self.u1[:, None])
        Y = np.interp(u + self.gap * np.arange(len(self.s))[:, None], self.uu, self.yy)
        M = (np.minimum(grid + dx / 2, hi[:, None]) - np.maximum(grid - dx / 2, lo[:, None])) / dx
        return np.clip(M, 0.0, 1.0), Y

    def cost(self, mu: float) -> float:
        return self.cost_of(*self._sample(mu))

    @staticmethod
    def cost_of(M, Y) -> float:
        # per cell: sum_{k<l} m_k m_l (y_k - y_l)^2 = N sum_k m_k (y_k - ybar)^2, N = sum m
        N = M.sum(axis=0)
        ybar = (M * Y).sum(axis=0) / np.where(N > 0, N, 1.0)
        num = float(N @ (M * (Y - ybar) ** 2).sum(axis=0))
        den = float((N * N - (M * M).sum(axis=0)).sum()) / 2
        return num / den if den > 0 else math.nan

    def pair_matrices_of(self, M, Y):
        # einsum, not BLAS: these products are small and threaded BLAS thrashes on busy CPUs
        MY = M * Y
        B = np.einsum("kg,lg->kl", MY * Y, M)
        A = np.clip((B + B.T - 2 * np.einsum("kg,lg->kl", MY, MY)) * self.dx, 0.0, None)
        L = np.einsum("kg,lg->kl", M, M) * self.dx
        np.fill_diagonal(A, 0.0)
        np.fill_diagonal(L, 0.0)
        return A, L


def _collapse_from_rows(steps, msd, rows, D=None, dx=0.05):
    """_Collapse of the given rows and the rows kept.

    Dropped: t_w = 0, curves with < 2 valid points, and (when D [K] is given,
    the curves becoming log(Delta / D(t_w))) rows with non-finite or non-positive D.
    """
    us, ys, kept = [], [], []
    for i in rows:
        u, y = _curve(steps, msd, i)
        d = 1.0 if D is None else float(D[i])
        if len(u) >= 2 and steps[i] > 0 and np.isfinite(d) and d > 0:
            us.append(u)
            ys.append(y - math.log(d))
            kept.append(int(i))
    if len(kept) < 2:
        return None, np.array(kept, dtype=int)
    log_tw = np.log(np.asarray(steps, dtype=np.float64)[kept])
    return _Collapse(us, ys, log_tw, dx), np.array(kept, dtype=int)


def collapse_cost(steps, msd, mu: float, tw_indices, D=None, dx: float = 0.05) -> float:
    """Spread of the curves y = log Delta versus x = log t - mu log t_w.

    cost(mu) = sum_{k<l} int_{overlap kl} (y_k(x) - y_l(x))^2 dx / sum_{k<l} |overlap kl|,
    i.e. the mean squared difference between every pair of curves on their
    common x range, averaged with weight the overlap length (a master-curve
    cost in the spirit of Bhattacharjee & Seno, J. Phys. A 34, 6375 (2001) and
    Houdayer & Hartmann, PRB 70, 014418 (2004)).  Curves are piecewise linear
    in x between snapshots; the integral is a midpoint sum on a grid of step
    dx.  With D [K] given, y = log(Delta / D(t_w)).  NaN when no two curves overlap.
    """
    col, _ = _collapse_from_rows(steps, msd, np.asarray(tw_indices, dtype=int), D, dx)
    return math.nan if col is None else col.cost(mu)


def _golden(f, a: float, b: float, tol: float = 1e-5) -> float:
    """Golden-section minimum of f on [a, b]."""
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2


def _parabolic_min(grid, cost) -> float:
    """Vertex of the parabola through the grid minimum and its two neighbours, kept between them."""
    if not np.isfinite(cost).any():
        return math.nan
    k = int(np.nanargmin(cost))
    if k == 0 or k == len(grid) - 1 or not np.isfinite(cost[[k - 1, k + 1]]).all():
        return float(grid[k])
    (x0, x1, x2), (y0, y1, y2) = grid[k - 1:k + 2], cost[k - 1:k + 2]
    den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    if den == 0:
        return float(x1)
    v = x1 - 0.5 * ((x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)) / den
    return float(np.clip(v, x0, x2))


@dataclass(frozen=True, eq=False)
class AgingFit:
    """Result of fit_aging_exponent; NaN mu when fewer than two curves overlap."""

    mu: float
    mu_err: float        # bootstrap std over resampled curves
    cost_min: float      # cost at mu, in (log Delta)^2
    n_curves: int
    tw: np.ndarray       # waiting times of the curves used
    mu_grid: np.ndarray
    cost: np.ndarray     # cost on mu_grid
    boot_mu: np.ndarray  # mu of each valid bootstrap replicate

    def to_dict(self) -> dict:
        d = _to_dict(self)
        d["n_boot"] = int(d.pop("boot_mu").size)
        return d


def fit_aging_exponent(steps, msd, tw_indices=None, mu_grid=None, n_boot: int = 200,
                       seed: int = 0, D=None, dx: float = 0.05) -> AgingFit:
    """Aging exponent mu from the collapse of log Delta(t_w, t_w + t) in x = log t - mu log t_w.

    Simple aging is mu = 1, subaging 0 < mu < 1 [HMT22], time-translation
    invariance mu = 0 (SCIENCE.md "Aging analysis"; [BJ18], [CK93]).  mu
    minimises collapse_cost (see there) over `mu_grid` (default -0.5..1.5 by
    0.01), refined by golden-section search between the grid neighbours of the
    minimum.  mu_err is the standard deviation of mu over `n_boot` bootstrap
    replicates that resample the t_w curves with replacement (pairs of copies
    of one curve are not counted; each replicate is minimised on every other
    grid point and refined by a parabola through its minimum).  Default
    curves: usable_waiting_times(steps, msd).  With D [K] given, the curves are
    log(Delta / D(t_w)) (the diffusive scaling of [BJ18]).  dx: integration
    step in x (natural log units) of the cost.
    """
    grid = DEFAULT_MU_GRID if mu_grid is None else np.asarray(mu_grid, dtype=np.float64)
    rows = usable_waiting_times(steps, msd) if tw_indices is None else np.asarray(tw_indices, int)
    col, kept = _collapse_from_rows(steps, msd, rows, D, dx)
    tw = np.asarray(steps, dtype=np.float64)[kept]
    if col is None:
        nan = np.full(len(grid), np.nan)
        return AgingFit(math.nan, math.nan, math.nan, len(kept), tw, grid, nan, np.zeros(0))
    n = len(kept)
    W = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    boot_grid = grid[::2]  # every other grid point, each replicate refined by a parabola
    cost, boot = np.full(len(grid), np.nan), np.full((n_boot, len(boot_grid)), np.nan)
    for m, mu in enumerate(grid):
        M, Y = col._sample(mu)
        cost[m] = col.cost_of(M, Y)
        if m % 2 == 0 and n_boot > 0:
            A, L = col.pair_matrices_of(M, Y)
            AL = np.einsum("bk,kl->bl", W, np.hstack([A, L])).reshape(n_boot, 2, n) * W[:, None]
            num, den = AL.sum(axis=2).T
            boot[:, m // 2] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    if not np.isfinite(cost).any():
        return AgingFit(math.nan, math.nan, math.nan, n, tw, grid, cost, np.zeros(0))

    def f(mu):
        c = col.cost(mu)
        return c if np.isfinite(c) else math.inf

    k = int(np.nanargmin(cost))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    mu = _golden(f, a, b) if b > a else float(grid[k])
    if f(mu) > cost[k]:
        mu = float(grid[k])
    ok = (W > 0).sum(axis=1) >= 2
    boot_mu = np.array([_parabolic_min(boot_grid, c) for c in boot[ok]])
    boot_mu = boot_mu[np.isfinite(boot_mu)]
    err = float(np.std(boot_mu, ddof=1)) if boot_mu.size >= 2 else math.nan
    return AgingFit(float(mu), err, f(mu), n, tw, grid, cost, boot_mu)


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
        return _to_dict(self)


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
        u, y = _curve(steps, msd, i)
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
        return _to_dict(self)


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
        return _to_dict(self)


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
    err = fit.mu_err if np.isfinite(fit.mu_err) else 0.0
    return bool(np.isfinite(fit.mu) and abs(fit.mu) < max(MU_ZERO_TOL, 2 * err))


def _ages(fit: AgingFit) -> bool:
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
        return _to_dict(self)


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
                  f"and its slope {late_slope.slope:.3g} lies in [{lo}, {hi}]")
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
