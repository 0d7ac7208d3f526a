"""Physics oracles through the real pipeline: dynamics -> snapshots -> Zarr store -> Delta.

The harmonic model L = k |w|^2 / 2 (k = 0: flat) has exact Langevin answers
(SCIENCE.md, "Exact results").  Every coordinate is an independent copy of the
same scalar process, so an N-coordinate average estimates the expectation with
a relative standard deviation we can write down; each bound below says how.
"""

import math

import numpy as np
import pytest

from glasslab.core.config import presets
from glasslab.core.store import completion, reader
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive

N = 200_000


def harmonic(k: float, eta: float, T: float, steps: int, snapshots: int = 30, n: int = N) -> presets.Preset:
    return presets.with_overrides(presets.Preset(name="harmonic"), {
        "model.kind": "harmonic", "model.width": n, "model.stiffness": k, "model.init_std": 0.0,
        "data.train_size": 10, "data.test_size": 10, "data.classes": 2,
        "dynamics.kind": "langevin", "dynamics.lr": eta, "dynamics.temperature": T, "dynamics.momentum": 0.0,
        "recording.snapshots": snapshots, "recording.first": 1, "recording.log_every": 50,
        "recording.waiting_times": 4, "run.steps": steps, "run.device": "cpu", "run.seed": 5})


def record(preset, tmp_path):
    path = tmp_path / "h.zarr"
    drive(Run(preset), [TrajectoryWriter(path)])
    completion.complete_two_time(path)
    t = reader.Trajectory.open(path)
    return t, t.steps.astype(float), np.asarray(t.array("msd"))


def test_free_diffusion_on_a_flat_landscape(tmp_path):
    eta, T = 0.01, 0.5
    t, steps, msd = record(harmonic(0.0, eta, T, 2000), tmp_path)
    i, j = np.triu_indices(len(steps), 1)
    expected = 2 * T * eta * (steps[j] - steps[i])
    # d_i ~ N(0, 2 T eta n) independently: (1/N) sum d_i^2 has relative std sqrt(2/N) = 0.0032.
    # 5 sigma over ~400 correlated pairs: a false alarm has probability < 1e-3.
    rel = msd[i, j] / expected - 1
    assert np.abs(rel).max() < 5 * math.sqrt(2 / N), np.abs(rel).max()
    # and the growth is linear in the lag, whatever t_w (no aging on a flat landscape)
    assert np.isnan(msd[j, i]).all()  # below the diagonal: NaN by contract


@pytest.mark.parametrize("eta_k", [0.08, 0.5])
def test_discrete_time_equipartition(tmp_path, eta_k):
    k, T = 1.0, 0.1
    eta = eta_k / k
    n = 500_000
    steps = int(40 / eta_k)  # a^(2m) = (1 - eta k)^(2m) < e^-80: fully stationary at the end
    t, _, _ = record(harmonic(k, eta, T, steps, snapshots=10, n=n), tmp_path)
    w2 = t.array("observables/weight_norm2")[-1]
    exact = T / (k * (1 - eta * k / 2))
    naive = T / k
    # |w|^2/N over n Gaussian coordinates: relative std sqrt(2/n) = 0.002; 5 sigma = 0.01,
    # well inside the 4% (eta k = 0.08) and 33% (0.5) gap between exact and naive.
    assert abs(w2 / exact - 1) < 5 * math.sqrt(2 / n)
    assert abs(w2 / naive - 1) > 0.03


def test_ornstein_uhlenbeck_aging_on_the_log_grid(tmp_path):
    k, eta, T = 1.0, 0.02, 0.2
    t, steps, msd = record(harmonic(k, eta, T, 400, snapshots=40), tmp_path)
    a = 1 - eta * k
    v_inf = T / (k * (1 - eta * k / 2))
    V = lambda m: v_inf * (1 - a ** (2 * m))  # noqa: E731
    i, j = np.triu_indices(len(steps), 1)
    nw, lag = steps[i], steps[j] - steps[i]
    expected = V(nw + lag) + V(nw) * (1 - 2 * a ** lag)
    # Each coordinate's displacement is Gaussian with variance `expected`: relative std sqrt(2/N).
    rel = msd[i, j] / expected - 1
    assert np.abs(rel).max() < 5 * math.sqrt(2 / N), np.abs(rel).max()


def test_online_rows_equal_the_full_computation_and_a_naive_reference(tmp_path):
    from support.presets import tiny_preset

    path = tmp_path / "t.zarr"
    drive(Run(tiny_preset(**{"recording.waiting_times": 3})), [TrajectoryWriter(path)])
    live = np.asarray(reader.Trajectory.open(path).array("msd"))
    rows = reader.Trajectory.open(path).attrs["waiting_snapshots"]
    assert len(rows) == 3 and np.isfinite(live[rows[0], rows[0]:]).all()
    others = [r for r in range(live.shape[0]) if r not in rows]
    assert np.isnan(live[others[1], others[1] + 1:]).all()  # not computed during the run
    completion.complete_two_time(path)
    t = reader.Trajectory.open(path)
    full = np.asarray(t.array("msd"))
    w = np.asarray(t.weights[: t.n_snapshots], dtype=np.float64)
    n = len(w)
    naive = np.full((n, n), np.nan)
    for a in range(n):
        for b in range(a, n):
            naive[a, b] = np.mean((w[b] - w[a]) ** 2)
    np.testing.assert_allclose(full, naive, rtol=1e-12, atol=0)
    for r in rows:
        np.testing.assert_allclose(live[r, r:], full[r, r:], rtol=1e-12, atol=0)
    assert t.attrs["two_time_complete"] == n
    q = np.asarray(t.array("overlap"))
    assert np.all(np.diag(q) == 1) and np.all((q[np.triu_indices(n, 1)] >= 0) & (q[np.triu_indices(n, 1)] <= 1))
    d = t.array("observables/D")
    assert np.isfinite(d).all() and (d >= 0).all() and np.isfinite(t.array("observables/D_batch")).all()
