"""Curves of Delta(t_w, t_w + t) and the aging collapse fit of the exponent mu.

Which waiting-time curves are usable, the early / intermediate / late windows
of t_w, and the exponent mu that best collapses Delta(t_w, t_w + t) against
t / t_w^mu, with a bootstrap error over the curves (docs/science.md,
section 5).  core/analysis/aging.py builds the verdict on these.  Pure numpy.

Inputs as in core/analysis/aging.py: `steps` int [K] (log-spaced, steps[0] == 0) and
`msd` [K, K] with msd[i, j] = Delta(steps[i], steps[j]) for j > i, NaN elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

# mu < 0 is allowed so that mu = 0 is an interior minimum and its error is honest.
DEFAULT_MU_GRID = np.round(np.linspace(-0.5, 1.5, 201), 12)


def to_dict(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


# ----------------------------------------------------------------- curves ---

def curve(steps, msd, i):
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
        u, y = curve(steps, msd, i)
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
    # The minimum lies on an end of mu_grid: the cost still falls beyond it, so mu is no measurement
    # (a collapse that needs mu < -0.5 or > 1.5 is not one); reports say so instead of a number.
    at_bound: bool = False

    def to_dict(self) -> dict:
        d = to_dict(self)
        d["n_boot"] = int(d.pop("boot_mu").size)
        return d


def fit_aging_exponent(steps, msd, tw_indices=None, mu_grid=None, n_boot: int = 200,
                       seed: int = 0, D=None, dx: float = 0.05) -> AgingFit:
    """Aging exponent mu from the collapse of log Delta(t_w, t_w + t) in x = log t - mu log t_w.

    Simple aging is mu = 1, subaging 0 < mu < 1 [HMT22], time-translation
    invariance mu = 0 (docs/science.md, section 5; [BJ18], [CK93]).  mu
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
    half = 0.5 * float(np.min(np.diff(grid))) if len(grid) > 1 else 0.0
    at_bound = bool(mu <= grid[0] + half or mu >= grid[-1] - half)
    return AgingFit(float(mu), err, f(mu), n, tw, grid, cost, boot_mu, at_bound)
