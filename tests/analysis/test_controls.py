"""The noise-off control and replicas (core/runs/branch.py, core/analysis/controls.py) against exact answers.

The harmonic model L = k |w|^2 / 2 under full-batch Langevin is an Ornstein-Uhlenbeck
process per coordinate (SCIENCE.md, "Exact results"): a = 1 - eta k, and from w(t_w)

    noise-off (T = 0):  w(t_w + n) = a^n w(t_w)         Delta_off(n) = (1 - a^n)^2 q,   q = |w(t_w)|^2 / N
    noise-on:           E Delta_on(n)  = (1 - a^n)^2 q + V_n,   V_n = 2 eta T (1 - a^(2n)) / (1 - a^2)
    two replicas:       E Delta_AB(n) = 2 V_n

Every coordinate is an independent copy, so an N-coordinate mean estimates these with a
relative standard deviation written down below; each bound is 5 of them.
"""

import math

import numpy as np
import pytest

from glasslab.core.analysis import controls
from glasslab.core.config import presets
from glasslab.core.errors import BadInput
from glasslab.core.runs import branch, headless
from glasslab.core.store.reader import Trajectory
from glasslab.core.train.run import Run

from support.presets import tiny_preset

N = 100_000
K, ETA, T = 1.0, 0.02, 0.05


def harmonic(k=K, steps=400) -> presets.Preset:
    return presets.with_overrides(presets.Preset(name="harmonic"), {
        "model.kind": "harmonic", "model.width": N, "model.stiffness": k, "model.init_std": 0.2,  # near equilibrium: V_inf = 0.0505
        "data.train_size": 10, "data.test_size": 10, "data.classes": 2,
        "dynamics.kind": "langevin", "dynamics.lr": ETA, "dynamics.temperature": T, "dynamics.momentum": 0.0,
        "recording.snapshots": 20, "recording.first": 1, "recording.log_every": 50,
        "run.steps": steps, "run.device": "cpu", "run.seed": 5})


def train_branches(parent_path, **kw):
    for b in branch.plan(parent_path, **kw):
        branch.train(b, signals=False)
    return controls.analyze_controls(parent_path)


@pytest.fixture(scope="module")
def ou(tmp_path_factory):
    """A harmonic Langevin run branched at one t_w into noise-off, noise-on and two replicas."""
    d = tmp_path_factory.mktemp("ou")
    parent = d / "parent.zarr"
    headless.train(Run(harmonic()), parent, signals=False)
    t = Trajectory.open(parent)
    tw = int(t.steps[8])
    q = float(np.mean(np.asarray(t.snapshot(8), dtype=np.float64) ** 2))
    [result] = train_branches(parent, at=[tw], steps=150, replicas=2)
    return result, tw, q


@pytest.mark.slow
def test_the_noise_off_control_follows_the_deterministic_path_exactly(ou):
    r, tw, q = ou
    n = np.array(r.lags, dtype=float)
    exact = (1 - (1 - ETA * K) ** n) ** 2 * q
    # deterministic: only float32 rounding of w separates them
    assert np.allclose(r.delta_off, exact, rtol=1e-4), np.max(np.abs(np.array(r.delta_off) / exact - 1))


@pytest.mark.slow
def test_noise_on_and_replicas_match_the_ornstein_uhlenbeck_answers(ou):
    r, tw, q = ou
    n = np.array(r.lags, dtype=float)
    a = 1 - ETA * K
    c2 = (1 - a ** n) ** 2
    v = 2 * ETA * T * (1 - a ** (2 * n)) / (1 - a ** 2)
    on = np.array(r.delta_on)
    # per coordinate (c w + z)^2, z ~ N(0, V): variance 4 c^2 w^2 V + 2 V^2; with w^2 ~ q on average
    sigma_on = np.sqrt((4 * c2 * q * v + 2 * v ** 2) / N)
    assert (np.abs(on - (c2 * q + v)) < 5 * sigma_on).all(), np.max(np.abs(on - (c2 * q + v)) / sigma_on)
    # (z_A - z_B)^2 with z_A - z_B ~ N(0, 2V): relative std sqrt(2/N) per replica pair, two pairs averaged
    ab = np.array(r.replica_distance)
    assert (np.abs(ab / (2 * v) - 1) < 5 * math.sqrt(2 / N)).all(), np.max(np.abs(ab / (2 * v) - 1))
    assert r.replicas == 2 and r.replicas_read == "the replicas separate"


@pytest.mark.slow
def test_a_noise_driven_run_is_called_so(ou):
    r, _, _ = ou
    # near equilibrium (q ~ V_inf) R = 1 + V_n / ((1 - a^n)^2 q) is about 3 at n = 50 and 2.1 at n = 150
    assert r.verdict == "noise-driven" and r.late_ratio >= controls.NOISE_DRIVEN_R


def test_sgd_that_sees_the_whole_set_each_step_is_drift(tmp_path):
    """B = P: every minibatch is the whole training set, so SGD is GD up to the summation order."""
    parent = tmp_path / "full.zarr"
    headless.train(Run(tiny_preset(**{"dynamics.batch_size": 200, "run.steps": 300})), parent, signals=False)
    [r] = train_branches(parent, at=[100], steps=100, replicas=1)
    assert r.verdict == "drift" and abs(r.late_ratio - 1) < 1e-3, r.late_ratio
    assert r.replicas_read == "the replicas stay together"


@pytest.mark.parametrize("ratios, verdict", [
    ([1.0, 1.02, 0.99, 1.01, 1.0, 1.03], "drift"),
    ([1.0, 1.1, 1.3, 1.5, 1.6, 1.7], "mixed"),
    ([1.2, 1.8, 2.5, 3.0, 4.0, 5.0], "noise-driven"),
    ([5.0, 5.0, 5.0, 1.0, 1.0, 1.0], "drift"),  # only the late half counts
])
def test_the_verdict_reads_the_late_half_of_the_lags(ratios, verdict):
    lags = np.array([10, 20, 40, 80, 160, 320])
    assert controls.verdict_of(lags, np.array(ratios))[1] == verdict


def test_under_sgd_only_lags_of_an_epoch_or_more_count():
    lags = np.array([10, 20, 40, 80, 160, 320, 640, 1280])
    # noise visible inside the epoch, cancelled at whole epochs: drift over the lags that count
    ratios = np.array([4.0, 4.0, 3.0, 2.0, 1.05, 1.1, 1.1, 1.1])
    r, verdict, note = controls.verdict_of(lags, ratios, epoch=160)
    assert verdict == "drift" and "one epoch" in note
    r, verdict, note = controls.verdict_of(lags[:6], ratios[:6], epoch=200)  # 1.6 epochs
    assert verdict == "undecided" and math.isnan(r) and "--steps 800" in note


def test_a_gd_run_has_no_noise_to_switch_off(tmp_path):
    parent = tmp_path / "gd.zarr"
    headless.train(Run(tiny_preset(**{"dynamics.kind": "gd", "run.steps": 50})), parent, signals=False)
    with pytest.raises(BadInput, match="no noise to switch off"):
        branch.plan(parent, at=[20])


def test_a_branch_must_start_at_a_snapshot(tmp_path):
    parent = tmp_path / "p.zarr"
    headless.train(Run(tiny_preset(**{"run.steps": 50})), parent, signals=False)
    steps = [int(s) for s in Trajectory.open(parent).steps]
    between = next(s + 1 for s, t in zip(steps, steps[1:]) if s > 0 and t - s > 1)
    p = presets.with_overrides(tiny_preset(), {"run.init_from": str(parent), "run.init_step": between})
    with pytest.raises(BadInput, match="no snapshot at that step"):
        Run(p)
    [b, *_] = branch.plan(parent, at=[between])  # the CLI's --at moves to the nearest snapshot
    assert b.tw in steps and abs(b.tw - between) <= min(abs(s - between) for s in steps)
