"""The update rules against independent references (SCIENCE.md, "Dynamics")."""

import math

import pytest
import torch

from glasslab.core.config import presets
from glasslab.core.system import data as datasets
from glasslab.core.system import models
from glasslab.core.system.dynamics import Minibatches, Trainer

from support.presets import tiny_preset


def _setup(p, dtype=torch.float64):
    d = datasets.load(p.data)
    d = datasets.DataSet(d.name, d.x_train.to(dtype), d.y_train, d.x_test.to(dtype), d.y_test, d.classes, d.mean, d.std)
    torch.manual_seed(0)
    model = models.build(p.model, d.input_shape, d.classes).to(dtype)
    flat = models.flatten_parameters(model)
    return d, model, flat


def test_flat_parameters_are_views():
    p = tiny_preset()
    _, model, flat = _setup(p)
    flat.w.zero_()
    assert all(float(q.detach().abs().sum()) == 0 for q in model.parameters())
    assert flat.w.numel() == sum(q.numel() for q in model.parameters())
    assert [name for name, _, _ in flat.layout] == [n for n, _ in model.named_parameters()]


def test_gd_step_is_minus_eta_times_the_full_gradient():
    p = tiny_preset(**{"dynamics.kind": "gd", "dynamics.lr": 0.3, "dynamics.momentum": 0.0})
    d, model, flat = _setup(p)
    w0 = flat.w.clone()
    # Reference: autograd on a detached copy of the whole-set mean loss.
    loss = models.mean_loss(model, model(d.x_train), d.y_train)
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, list(model.parameters()))])
    Trainer(model, flat, d, p.dynamics, seed=0).step()
    assert torch.allclose(flat.w, w0 - 0.3 * g, rtol=0, atol=1e-14)


def test_chunked_full_gradient_equals_one_pass():
    p = tiny_preset(**{"dynamics.kind": "gd"})
    d, model, flat = _setup(p)
    tr = Trainer(model, flat, d, p.dynamics, 0)
    l1 = tr.full_gradient(); g1 = flat.grad.clone()
    tr.cfg = presets.with_overrides(p, {"dynamics.gd_chunk": 37}).dynamics  # 200 = 5*37 + 15: uneven
    l2 = tr.full_gradient(); g2 = flat.grad.clone()
    # float64 sums reordered: agreement to ~1e-15 relative, 1e-12 leaves room for 200 terms.
    assert torch.allclose(g1, g2, rtol=1e-12, atol=1e-15) and abs(float(l1 - l2)) < 1e-12


def test_sgd_with_momentum_and_weight_decay_matches_torch_optim():
    p = tiny_preset(**{"dynamics.momentum": 0.5, "dynamics.weight_decay": 1e-3, "dynamics.lr": 0.2})
    d, model, flat = _setup(p)
    ref_model = models.build(p.model, d.input_shape, d.classes).to(torch.float64)
    ref_model.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(ref_model.parameters(), lr=0.2, momentum=0.5, weight_decay=1e-3)
    tr = Trainer(model, flat, d, p.dynamics, seed=3)
    batches = Minibatches(d.train_size, flat.w.device, seed=3)  # the same stream of indices
    for _ in range(25):
        tr.step()
        idx = batches.take(p.dynamics.batch_size)
        opt.zero_grad()
        models.mean_loss(ref_model, ref_model(d.x_train[idx]), d.y_train[idx]).backward()
        opt.step()
    ref = torch.cat([q.detach().reshape(-1) for q in ref_model.parameters()])
    assert torch.allclose(flat.w, ref, rtol=0, atol=1e-12)


def test_minibatches_cover_each_epoch_without_replacement():
    b = Minibatches(100, torch.device("cpu"), seed=1)
    epoch = torch.cat([b.take(20) for _ in range(5)])
    assert sorted(epoch.tolist()) == list(range(100))
    second = torch.cat([b.take(20) for _ in range(5)])
    assert sorted(second.tolist()) == list(range(100)) and not torch.equal(epoch, second)
    b2 = Minibatches(100, torch.device("cpu"), seed=1)
    assert torch.equal(torch.cat([b2.take(20) for _ in range(5)]), epoch)


def test_langevin_on_a_flat_landscape_adds_gaussian_noise_of_variance_2_eta_T():
    # One step from w = 0 with k = 0: each coordinate is sqrt(2 eta T) xi, xi ~ N(0, 1).
    n, eta, T = 200_000, 0.01, 0.5
    p = presets.with_overrides(presets.Preset(), {
        "model.kind": "harmonic", "model.width": n, "model.stiffness": 0.0,
        "dynamics.kind": "langevin", "dynamics.lr": eta, "dynamics.temperature": T, "dynamics.momentum": 0.0,
        "data.train_size": 10, "data.test_size": 10})
    d, model, flat = _setup(p, torch.float32)
    Trainer(model, flat, d, p.dynamics, 0).step()
    var = float(flat.w.double().pow(2).mean())
    # The sample variance of n Gaussians has relative std sqrt(2/n) = 0.0032; allow 5 sigma.
    assert abs(var / (2 * eta * T) - 1) < 5 * math.sqrt(2 / n)
    kurt = float(flat.w.double().pow(4).mean()) / var**2
    assert abs(kurt - 3) < 5 * math.sqrt(96 / n)  # Gaussian: 3, std of the estimator ~ sqrt(96/n)


def test_switching_resets_momentum_only_when_it_changes():
    p = tiny_preset()
    d, model, flat = _setup(p)
    tr = Trainer(model, flat, d, p.dynamics, 0)
    tr.step(); tr.step()
    assert tr.momentum_buf is not None
    tr.switch(presets.with_overrides(p, {"dynamics.lr": 0.1}).dynamics)
    assert tr.momentum_buf is not None
    tr.switch(presets.with_overrides(p, {"dynamics.kind": "langevin", "dynamics.momentum": 0.0,
                                         "dynamics.temperature": 1e-3}).dynamics)
    assert tr.momentum_buf is None
    tr.step()
    assert tr.momentum_buf is None  # Langevin is overdamped


@pytest.mark.parametrize("kind", ["toy", "fc", "smallnet", "resnet18"])
def test_every_model_trains_one_step(kind):
    over = {"model.kind": kind, "data.shape": [3, 32, 32] if kind in ("smallnet", "resnet18") else [8],
            "data.train_size": 8, "data.test_size": 4, "dynamics.batch_size": 4, "model.norm": "group"}
    p = tiny_preset(**over)
    d, model, flat = _setup(p, torch.float32)
    w0 = flat.w.clone()
    loss = Trainer(model, flat, d, p.dynamics, 0).step()
    assert math.isfinite(float(loss)) and not torch.equal(w0, flat.w)
