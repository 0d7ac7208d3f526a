"""The checks that ship with the aging numbers (docs/science.md, section 5, "Controls").

Owns: the pure-diffusion control built from a run's measured D (what a
diffusion with that D gives through the same fit), the noise-size check of SGD
(measured Delta against the uncorrelated-noise prediction at lags up to about an
epoch), and the radial part of Delta (the share carried by the change of |w|).
Pure numpy; the store is read by core/analysis/report.py.
"""

from __future__ import annotations

import math

import numpy as np

from glasslab.core.config import dynamics

# ------------------------------------------------------- pure diffusion ---

def d_on_snapshots(steps, D) -> np.ndarray:
    """D at every snapshot t > 0: the measured values, log-log interpolated between them (exact for a
    power law), constant beyond the first and last measured one; NaN at t = 0 and without data."""
    s = np.asarray(steps, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    ok = np.isfinite(D) & (D > 0) & (s > 0)
    out = np.full(len(s), np.nan)
    if not ok.any():
        return out
    pos = s > 0
    out[pos] = np.exp(np.interp(np.log(s[pos]), np.log(s[ok]), np.log(D[ok])))
    return out


def diffusion_control_msd(steps, D) -> np.ndarray:
    """Delta_diff(t_w, t_w + t) = integral over [t_w, t_w + t] of 2 D(s) ds: a pure diffusion with the
    measured D (D piecewise a power law between snapshots, d_on_snapshots).  Rows of t_w = 0 are NaN.

    Fed through the same fit as the data it is the null of the Delta/D(t_w) collapse: with a D that
    falls while the lag runs, this control already gives mu(Delta/D) != 0 (issue 23: -0.5 at the
    grid bound for D ~ t^-2.5), so a measured mu(Delta/D) is read against it, not against 0.
    """
    s = np.asarray(steps, dtype=np.float64)
    d = d_on_snapshots(s, D)
    K = len(s)
    F = np.full(K, np.nan)          # F[k] = int_{s_first}^{s_k} 2 D
    first = np.flatnonzero((s > 0) & np.isfinite(d))
    if first.size:
        k0 = first[0]
        F[k0] = 0.0
        for k in range(k0 + 1, K):
            a, b, da, db = s[k - 1], s[k], d[k - 1], d[k]
            r = b / a
            p = math.log(db / da) / math.log(r)
            seg = da * a * (math.log(r) if abs(p + 1) < 1e-12 else (r ** (p + 1) - 1) / (p + 1))
            F[k] = F[k - 1] + 2 * seg
    msd = np.full((K, K), np.nan)
    iu = np.triu_indices(K, 1)
    msd[iu] = (F[None, :] - F[:, None])[iu]
    return msd


# ----------------------------------------------------------- noise size ---

def sgd_noise_prefactor(dyn, train_size: int, n_params: int) -> float:
    """c in Delta_pred(t) = c D t: eta^2 v / ((1 - m)^2 N), v = dynamics.batch_mean_variance.

    Uncorrelated minibatch noise: a batch's mean gradient has a variance (summed over parameters)
    of v D, D the per-sample variance (the seed's D) and v the sampling factor of the run's minibatches
    (core/config/dynamics.py: (P - B) / (B (P - 1)) for batches drawn without replacement); heavy-ball
    momentum m multiplies a step's long-time displacement by 1 / (1 - m); per parameter: / N.  Epoch
    shuffling makes the noise of one epoch sum to zero, so the prediction holds at lags of order an
    epoch (P / B steps), not beyond (SCIENCE.md, Controls).

    dyn: the run's DynamicsConfig, or the same fields as a mapping (lr, batch_size, momentum ...).
    """
    lr, m = float(dynamics.value(dyn, "lr")), float(dynamics.value(dyn, "momentum"))
    return lr ** 2 * dynamics.batch_mean_variance(dyn, train_size) / ((1 - m) ** 2 * n_params)


def noise_size_check(steps, msd, D, prefactor: float, epoch: float, tw_indices, n_lags: int = 3) -> list[dict]:
    """Measured Delta / (prefactor D(t_w) t) at short lags for the given waiting times.

    For each t_w (rows with a finite D > 0): up to n_lags snapshot lags t <= epoch, spread in log t
    (the first, the last, and between), or the first lag if none is that short, marked
    beyond_epoch (the prediction does not hold there).  Returns
    [{"tw", "lag", "measured", "predicted", "ratio", "beyond_epoch"}].  ratio ~ 1: the motion is the size of the
    SGD noise; ratio >> 1: something else (drift) moves the weights further.
    """
    s = np.asarray(steps, dtype=np.float64)
    m = np.asarray(msd, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    out = []
    for i in tw_indices:
        if not (np.isfinite(D[i]) and D[i] > 0):
            continue
        lag = s[i + 1:] - s[i]
        ok = np.flatnonzero(np.isfinite(m[i, i + 1:]) & (m[i, i + 1:] > 0))
        if ok.size == 0:
            continue
        short = ok[lag[ok] <= epoch]
        pick = short if short.size else ok[:1]
        if pick.size > n_lags:
            pick = pick[np.unique(np.round(np.linspace(0, pick.size - 1, n_lags)).astype(int))]
        for j in pick:
            pred = prefactor * D[i] * lag[j]
            meas = m[i, i + 1 + j]
            out.append({"tw": float(s[i]), "lag": float(lag[j]), "measured": float(meas),
                        "predicted": float(pred), "ratio": float(meas / pred) if pred > 0 else math.nan,
                        "beyond_epoch": bool(lag[j] > epoch)})
    return out


# ---------------------------------------------------------------- radial ---

def radial_msd(weight_norm2) -> np.ndarray:
    """Delta_radial(t_w, t') = (|w(t')| - |w(t_w)|)^2 / N = (sqrt(n2') - sqrt(n2))^2 with n2 = |w|^2 / N.

    The part of Delta a change of the norm alone would give: Delta >= Delta_radial always (the
    triangle inequality), with equality for a pure rescaling w' = c w; a rotation at fixed |w| gives 0.
    Upper triangle only, NaN elsewhere."""
    r = np.sqrt(np.asarray(weight_norm2, dtype=np.float64))
    K = len(r)
    out = np.full((K, K), np.nan)
    iu = np.triu_indices(K, 1)
    out[iu] = ((r[None, :] - r[:, None]) ** 2)[iu]
    return out


def radial_share(steps, msd, weight_norm2, tw_indices) -> list[dict]:
    """Delta_radial / Delta for each given t_w at the largest lag t <= t_w (the fit window's end).

    Returns [{"tw", "lag", "delta", "radial", "share"}]; rows without a valid pair are skipped."""
    s = np.asarray(steps, dtype=np.float64)
    m = np.asarray(msd, dtype=np.float64)
    rad = radial_msd(weight_norm2)
    out = []
    for i in tw_indices:
        lag = s[i + 1:] - s[i]
        ok = np.flatnonzero(np.isfinite(m[i, i + 1:]) & (m[i, i + 1:] > 0)
                            & np.isfinite(rad[i, i + 1:]) & (lag <= s[i]))
        if ok.size == 0:
            continue
        j = i + 1 + ok[-1]
        out.append({"tw": float(s[i]), "lag": float(s[j] - s[i]), "delta": float(m[i, j]),
                    "radial": float(rad[i, j]), "share": float(rad[i, j] / m[i, j])})
    return out
