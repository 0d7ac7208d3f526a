"""The replicas' spreading (core/analysis/replicas.py) against exact answers.

Langevin on the harmonic model L = k |w|^2 / 2, full batch, per coordinate (SCIENCE.md, "Exact
results"), from one w(t_w) with independent noise in each replica:

    flat (k = 0):  w_A - w_B ~ N(0, 4 eta T n)       E Delta_AB(n) = 4 T eta n exactly: diffusive,
                                                      at every t_w alike
    well (k > 0):  E Delta_AB(n) = 2 V_n, V_n = 2 eta T (1 - a^(2n)) / (1 - a^2), a = 1 - eta k:
                   saturates at 2 V_inf: confined

An N-coordinate mean of (w_A - w_B)^2 has relative standard deviation sqrt(2/N) per pair; each
bound is 5 of them.  Branches are trained with --replicas-only (no noise-off branch).
"""

import math

import numpy as np
import pytest

from glasslab.core.analysis import replicas
from glasslab.core.config import dynamics, presets
from glasslab.core.errors import BadInput
from glasslab.core.runs import branch, headless
from glasslab.core.store.reader import Trajectory
from glasslab.core.train.run import Run

from support.presets import tiny_preset

N = 100_000
ETA, T = 0.02, 0.05


def langevin(k: float, steps: int = 200) -> presets.Preset:
    return presets.with_overrides(presets.Preset(name="harmonic"), {
        "model.kind": "harmonic", "model.width": N, "model.stiffness": k, "model.init_std": 0.2,
        "data.train_size": 10, "data.test_size": 10, "data.classes": 2,
        "dynamics.kind": "langevin", "dynamics.lr": ETA, "dynamics.temperature": T, "dynamics.momentum": 0.0,
        "recording.snapshots": 20, "recording.first": 1, "recording.log_every": 50,
        "run.steps": steps, "run.device": "cpu", "run.seed": 3})


def branched(tmp, k: float, tws: list[int], steps: int, replicas_k: int = 2):
    parent = tmp / "parent.zarr"
    headless.train(Run(langevin(k)), parent, signals=False)
    plan = branch.plan(parent, at=tws, steps=steps, replicas=replicas_k, noise_off_branch=False)
    assert {b.role for b in plan} == {"noise-on"} | {f"replica-{i}" for i in range(1, replicas_k + 1)}
    for b in plan:
        branch.train(b, signals=False)
    return replicas.analyze_replicas(parent)


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    return branched(tmp_path_factory.mktemp("flat"), 0.0, [20, 150], steps=300)


@pytest.mark.slow
def test_on_a_flat_loss_two_replicas_spread_as_4_t_eta_n(flat):
    spreads, _ = flat
    for s in spreads:
        n = np.array(s.lags, dtype=float)
        d = np.array(s.distance_by_pair)
        assert d.shape == (3, len(n))  # 3 trajectories, 3 pairs
        assert (np.abs(d / (4 * T * ETA * n) - 1) < 5 * math.sqrt(2 / N)).all(), np.max(np.abs(d / (4 * T * ETA * n) - 1))


@pytest.mark.slow
def test_a_flat_loss_is_diffusive_with_an_exponent_of_one(flat):
    spreads, v = flat
    assert v["verdict"] == "diffusive", v["reason"]
    assert v["sampler"] == "none" and v["branch_steps"] == 300 and len(v["tws"]) == 2
    [reading] = v["readings"].values()
    lo, hi = reading["gamma"]["interval"]
    assert lo <= 1 <= hi and hi - lo < 0.05, (lo, hi)
    mu = reading["tw_dependence"]["mu"]
    assert mu["interval"][0] <= 0 <= mu["interval"][1]


@pytest.mark.slow
def test_a_harmonic_well_confines_the_replicas(tmp_path):
    k = 2.0  # a = 0.96: V_n is within 2.5 % of V_inf from n = 45, the start of the late half of lags 1..1000
    spreads, v = branched(tmp_path, k, [50, 150], steps=1000, replicas_k=1)
    a = 1 - ETA * k
    n = np.array(spreads[0].lags, dtype=float)
    exact = 2 * 2 * ETA * T * (1 - a ** (2 * n)) / (1 - a ** 2)
    assert (np.abs(np.array(spreads[0].distance) / exact - 1) < 5 * math.sqrt(2 / N)).all()
    assert v["verdict"] == "confined", v["reason"]


def _spread(tw, lags, curve, sampler="none", epoch=None):
    """Three pairs' Delta_AB: `curve` with 1 % independent scatter (as an N-coordinate mean has)."""
    lags = np.asarray(lags)
    rng = np.random.default_rng(tw)
    by_pair = np.stack([curve * (1 + 0.01 * rng.standard_normal(len(lags))) for _ in range(3)])
    s = replicas.Spreading(tw, sampler, int(lags[-1]), epoch, 3, lags.tolist(), by_pair.mean(0).tolist(),
                           by_pair.tolist())
    for label, mask in replicas.lag_classes(lags, epoch, sampler).items():
        s.readings[label] = replicas.reading_of(label, lags[mask], by_pair[:, mask])
    return s


def test_spreading_that_slows_with_tw_is_still_aging():
    lags = np.unique(np.geomspace(1, 1000, 30).astype(int))
    spreads = [_spread(tw, lags, lags.astype(float) / tw ** 0.5) for tw in (100, 400, 1600)]
    v = replicas.verdict(spreads)
    assert v["verdict"] == "still aging", v["reason"]
    mu = v["readings"][replicas.ALL]["tw_dependence"]["mu"]
    assert mu["interval"][0] <= 0.5 <= mu["interval"][1] and abs(mu["value"] - 0.5) < 0.02  # Delta_AB = t / t_w^0.5: the collapse exponent of t / t_w^mu


def test_one_tw_cannot_call_diffusion():
    lags = np.unique(np.geomspace(1, 1000, 30).astype(int))
    v = replicas.verdict([_spread(100, lags, lags.astype(float))])
    assert v["verdict"] == "undecided" and "one t_w" in v["reason"]


def test_sub_diffusive_spreading_is_undecided_with_its_exponent():
    lags = np.unique(np.geomspace(1, 1000, 30).astype(int))
    v = replicas.verdict([_spread(tw, lags, lags.astype(float) ** 0.4) for tw in (100, 400)])
    assert v["verdict"] == "undecided" and "t^0.40" in v["reason"]


def test_reshuffled_sgd_is_read_at_and_between_epoch_multiples():
    epoch = 10
    lags = np.array([1, 2, 5, 10, 15, 20, 25, 30, 40, 45, 50, 60, 70, 75, 80, 100])
    classes = replicas.lag_classes(lags, epoch, dynamics.RESHUFFLE)
    assert lags[classes[replicas.AT_EPOCHS]].tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 100]
    assert lags[classes[replicas.BETWEEN]].tolist() == [15, 25, 45, 75]
    # with replacement there is no epoch to cancel the noise over: one reading, from one epoch on
    [(label, mask)] = replicas.lag_classes(lags, epoch, "replacement").items()
    assert label == replicas.ALL and lags[mask].min() == 10
    # readings that disagree leave the run undecided, naming both
    curve = np.where(lags % epoch == 0, 0.01, 1.0) * lags.astype(float)
    curve = np.where(lags % epoch == 0, 0.5, curve)  # saturated at whole epochs, diffusive between
    v = replicas.verdict([_spread(tw, lags, curve, dynamics.RESHUFFLE, epoch) for tw in (100, 400)])
    assert v["verdict"] == "undecided"
    assert v["readings"][replicas.AT_EPOCHS]["verdict"] == "confined"
    assert "at epoch multiples: confined" in v["reason"] and v["sampler"] == dynamics.RESHUFFLE


def test_sgd_branches_snapshot_every_half_epoch_and_replicas_only_trains_no_noise_off(tmp_path):
    parent = tmp_path / "p.zarr"
    headless.train(Run(tiny_preset(**{"run.steps": 100})), parent, signals=False)
    plan = branch.plan(parent, at=[50], steps=60, replicas=1, noise_off_branch=False)
    assert [b.role for b in plan] == ["noise-on", "replica-1"]
    for b in plan:
        branch.train(b, signals=False)
    steps = [int(s) for s in Trajectory.open(plan[0].path).steps]
    assert {5, 10, 15, 20, 30, 40, 50, 60} <= set(steps)  # P / B = 10 steps an epoch: every 5 steps
    spreads, v = replicas.analyze_replicas(parent)
    assert [s.tw for s in spreads] == [plan[0].tw] and set(spreads[0].readings) == {replicas.AT_EPOCHS, replicas.BETWEEN}
    assert "sampler reshuffle, branch 60 steps (6 epochs)" == v["branch"]


def test_replicas_only_needs_a_replica(tmp_path):
    parent = tmp_path / "p.zarr"
    headless.train(Run(tiny_preset(**{"run.steps": 50})), parent, signals=False)
    with pytest.raises(BadInput, match="--replicas 1 or more"):
        branch.plan(parent, at=[20], replicas=0, noise_off_branch=False)
