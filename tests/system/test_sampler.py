"""dynamics.sampler (issue 29, item 1): reshuffled epochs or minibatches drawn with replacement.

On linear regression, whose per-sample gradients are known in closed form, the minibatch
gradients the Trainer computes have the covariance each sampler must give, and a reshuffled
epoch sums to the full gradient exactly.  The sampler is recorded, old stores read as
reshuffle, a switch of sampler mid-run and a resume replay bitwise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import zarr
from torch import nn

from glasslab.core.config import dynamics, presets
from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.errors import BadInput
from glasslab.core.store import reader
from glasslab.core.system.data import DataSet
from glasslab.core.system.dynamics import Trainer, one_epoch
from glasslab.core.system.models import flatten_parameters

import support.resume as support_resume
from support.presets import tiny_preset
from support.resume import differences, resume_into, train


class LinearRegression(nn.Module):
    """l_a(w) = (x_a . w - y_a)^2 / 2, so grad l_a = (x_a . w - y_a) x_a.  The input row carries y_a in
    its last column ("energy" models return l_a from the forward pass)."""

    loss_kind = "energy"

    def __init__(self, w: np.ndarray):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        return 0.5 * (xy[:, :-1] @ self.w - xy[:, -1]).square()


def regression(P: int, N: int, sampler: str, B: int, seed: int = 0, integers: bool = False):
    """(trainer, per-sample gradients G [P, N] in closed form) at fixed weights w."""
    rng = np.random.default_rng(seed)
    if integers:  # every sum below is exact in float64
        x, y, w = rng.integers(-3, 4, (P, N)), rng.integers(-3, 4, P), rng.integers(-2, 3, N)
    else:
        x, y, w = rng.standard_normal((P, N)), rng.standard_normal(P), rng.standard_normal(N)
    x, y, w = x.astype(np.float64), y.astype(np.float64), w.astype(np.float64)
    model = LinearRegression(w)
    flat = flatten_parameters(model)
    xy = torch.tensor(np.column_stack([x, y]))
    data = DataSet("linear", xy, torch.zeros(P, dtype=torch.int64), xy[:1], torch.zeros(1, dtype=torch.int64),
                   1, (), ())
    cfg = DynamicsConfig(kind="sgd", batch_size=B, sampler=sampler, lr=0.1)
    G = (x @ w - y)[:, None] * x
    return Trainer(model, flat, data, cfg, seed=seed), G


def batch_gradient(trainer: Trainer) -> np.ndarray:
    trainer.batch_gradient()
    return trainer.flat.grad.numpy().copy()


def test_the_closed_form_is_the_trainers_full_gradient():
    trainer, G = regression(20, 3, "reshuffle", 5)
    trainer.full_gradient()
    np.testing.assert_allclose(trainer.flat.grad.numpy(), G.mean(axis=0), rtol=1e-13, atol=1e-13)


# Which draws are independent: with replacement every step; reshuffled, the batches of one epoch
# are not (they partition the set), so one batch per epoch (the first), each a uniform B-subset.
@pytest.mark.parametrize("sampler", dynamics.SAMPLERS)
def test_the_minibatch_gradient_covariance_of_each_sampler(sampler):
    """Cov(g_B) = Sigma / B with replacement, Sigma / B (P - B)/(P - 1) without (Sigma: the per-sample
    covariance, from the closed form; the factors written out here, independently of the module).

    Each entry C_ij is estimated from K independent batch gradients with the mean mu known exactly:
    C^_ij = mean_k (g_k - mu)_i (g_k - mu)_j, unbiased, with standard error s_ij / sqrt(K), s_ij the
    sample standard deviation of the products.  By the central limit theorem |C^_ij - C_ij| < 4.5 se
    fails with probability ~7e-6 per entry (and the seeds are fixed).  The test has the power to tell
    the samplers apart: at P = 20, B = 5 their traces differ by 21%, and the other sampler's trace
    must lie outside 4.5 standard errors."""
    P, N, B, K = 20, 3, 5, 3000
    trainer, G = regression(P, N, sampler, B, seed=1)
    mu = G.mean(axis=0)
    sigma = (G - mu).T @ (G - mu) / P
    factor = {"replacement": 1 / B, "reshuffle": (P - B) / (B * (P - 1))}
    assert dynamics.batch_mean_variance(trainer.cfg, P) == pytest.approx(factor[sampler], rel=1e-15)
    per_epoch = P // B
    draws = []
    for _ in range(K):
        draws.append(batch_gradient(trainer) - mu)
        if sampler == "reshuffle":
            for _ in range(per_epoch - 1):  # the rest of the epoch, drawn but not used
                trainer.batches.take(B, sampler)
    d = np.array(draws)
    prod = d[:, :, None] * d[:, None, :]
    est, se = prod.mean(axis=0), prod.std(axis=0, ddof=1) / np.sqrt(K)
    want = factor[sampler] * sigma
    assert np.all(np.abs(est - want) < 4.5 * se), (est, want, se)
    trace, trace_se = (d ** 2).sum(axis=1).mean(), (d ** 2).sum(axis=1).std(ddof=1) / np.sqrt(K)
    other = factor["reshuffle" if sampler == "replacement" else "replacement"] * np.trace(sigma)
    assert abs(trace - np.trace(want)) < 4.5 * trace_se
    assert abs(trace - other) > 4.5 * trace_se  # the test tells the samplers apart


def test_a_reshuffled_epoch_sums_to_the_full_gradient_exactly():
    """At fixed w, the mean of the P/B batch gradients of one reshuffled epoch is grad L, to the bit
    (integer data: every sum is exact in float64).  With replacement it is not."""
    P, N, B = 16, 4, 4
    for sampler in dynamics.SAMPLERS:
        trainer, G = regression(P, N, sampler, B, integers=True)
        trainer.full_gradient()
        full = trainer.flat.grad.numpy().copy()
        np.testing.assert_array_equal(full, G.mean(axis=0))
        epochs = [sum(batch_gradient(trainer) for _ in range(P // B)) / (P // B) for _ in range(5)]
        if sampler == "reshuffle":
            assert all(np.array_equal(e, full) for e in epochs)
        else:
            assert not any(np.array_equal(e, full) for e in epochs)


def test_d_b_draws_its_batches_as_the_sampler_does():
    gen = torch.Generator().manual_seed(0)
    reshuffled = one_epoch(DynamicsConfig(batch_size=5, sampler="reshuffle"), 23, gen)
    assert len(reshuffled) == 4 and len(torch.cat(reshuffled).unique()) == 20  # no sample twice
    drawn = one_epoch(DynamicsConfig(batch_size=5, sampler="replacement"), 23, torch.Generator().manual_seed(0))
    assert len(drawn) == 4 and all(len(b) == 5 for b in drawn) and int(torch.cat(drawn).max()) < 23
    # with replacement some sample repeats within these 20 draws from 23 (probability 1 - 23!/3!/23^20)
    assert len(torch.cat(drawn).unique()) < 20


# ------------------------------------------------------------------ runs, stores, resumes

@pytest.fixture(scope="module")
def sampler_runs(tmp_path_factory):
    """Uninterrupted tiny runs of one preset: reshuffled, with replacement, and switched to
    replacement at step 60."""
    d = tmp_path_factory.mktemp("samplers")
    p = tiny_preset(**{"run.steps": 300, "recording.checkpoint_minutes": 0.0})
    train(d / "reshuffle.zarr", p)
    train(d / "replacement.zarr", presets.with_overrides(p, {"dynamics.sampler": "replacement"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(support_resume, "SWITCH", {"sampler": "replacement"})
        train(d / "switched.zarr", p, switch_at=60)
    return p, d


def test_runs_that_differ_only_in_the_sampler(sampler_runs):
    _, d = sampler_runs
    a, b = reader.Trajectory.open(d / "reshuffle.zarr"), reader.Trajectory.open(d / "replacement.zarr")
    pa, pb = a.preset, b.preset
    assert pa["dynamics"]["sampler"] == "reshuffle" and pb["dynamics"]["sampler"] == "replacement"
    assert {**pb, "dynamics": {**pb["dynamics"], "sampler": "reshuffle"}} == pa  # nothing else differs
    wa, wb = np.asarray(a.weights[: a.n_snapshots]), np.asarray(b.weights[: b.n_snapshots])
    assert np.array_equal(wa[0], wb[0])  # the same initialisation ...
    assert not np.array_equal(wa[-1], wb[-1])  # ... and another trajectory


def test_ps_and_the_preset_browser_name_the_sampler(sampler_runs):
    from glasslab.core.runs import catalog, live

    p, d = sampler_runs
    assert live.describe(d / "replacement.zarr").dynamics == "sgd with replacement"
    assert live.describe(d / "reshuffle.zarr").dynamics == "sgd"
    assert live.describe(d / "switched.zarr").dynamics == "sgd with replacement"  # its last switch
    toml = catalog.to_toml(presets.with_overrides(p, {"dynamics.sampler": "replacement"}))
    assert 'sampler = "replacement"  # how minibatches are drawn' in toml
    assert catalog.summarize(presets.with_overrides(p, {"dynamics.sampler": "replacement"})).dynamics.endswith("repl.")


@pytest.mark.parametrize("sampler, how", [("replacement", "stop"), ("replacement", "kill"), ("reshuffle", "stop")])
def test_each_sampler_resumes_bitwise(sampler_runs, tmp_path, sampler, how):
    p, d = sampler_runs
    p = presets.with_overrides(p, {"dynamics.sampler": sampler})
    path = tmp_path / "s.zarr"
    train(path, p, **({"stop_at": 135} if how == "stop" else {"kill_at": 140}))
    resume_into(path)
    assert differences(path, d / f"{sampler}.zarr") == []


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_switch_of_sampler_survives_a_resume(sampler_runs, tmp_path, monkeypatch, how):
    p, d = sampler_runs
    monkeypatch.setattr(support_resume, "SWITCH", {"sampler": "replacement"})
    path = tmp_path / "s.zarr"
    t = train(path, p, switch_at=60, **({"stop_at": 75} if how == "stop" else {"kill_at": 65}))
    [event] = [e for e in t.events if e["kind"] == "dynamics_changed"]
    assert (event["old"]["sampler"], event["new"]["sampler"]) == ("reshuffle", "replacement")
    run = resume_into(path)
    assert run.trainer.cfg.sampler == "replacement"
    assert differences(path, d / "switched.zarr") == []
    assert differences(d / "switched.zarr", d / "reshuffle.zarr") != []  # the switch changed the run


def _forget_the_sampler(path) -> None:
    """Make a store as a glasslab without dynamics.sampler wrote it: no sampler in the preset, the
    events or the resume slots."""
    root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    attrs = dict(root.attrs)
    attrs["preset"]["dynamics"].pop("sampler")
    for e in attrs.get("events", []):
        for side in ("old", "new"):
            if isinstance(e.get(side), dict):
                e[side].pop("sampler", None)
    root.attrs.update(attrs)
    for name in ("slot0", "slot1", "saved0", "saved1"):
        if f"state/{name}" in root:
            arr = root[f"state/{name}"]
            table = dict(arr.attrs["table"])
            table["trainer"]["dynamics"].pop("sampler")
            arr.update_attributes({"table": table})


def test_an_old_store_reads_and_resumes_as_reshuffled(sampler_runs, tmp_path):
    p, d = sampler_runs
    path = tmp_path / "old.zarr"
    train(path, p, stop_at=135)
    _forget_the_sampler(path)
    t = reader.Trajectory.open(path)
    assert "sampler" not in t.preset["dynamics"]
    assert presets.from_stored(t.preset).dynamics.sampler == "reshuffle"
    run = resume_into(path)
    assert run.trainer.cfg.sampler == "reshuffle"
    assert differences(path, d / "reshuffle.zarr") == []


def test_a_switch_names_the_sampler_and_checks_it():
    p = tiny_preset()
    assert dynamics.switched(p, p.dynamics, {"sampler": "replacement"}) == dataclasses.replace(
        p.dynamics, sampler="replacement")
    with pytest.raises(BadInput, match="did you mean 'replacement'"):
        dynamics.switched(p, p.dynamics, {"sampler": "replacment"})
