"""core/measure/noise.py against independent references: closed forms, a per-sample backward loop, naive D_B.

Tolerances come from float64 rounding: a sum of n terms computed in two orders
differs by at most about n * eps relative (eps = 2.2e-16), so every check below
uses a small multiple of n * eps for the n terms involved, far below the O(1)
relative error a wrong formula for any layer carrying a fair share of the norm
would give.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from glasslab.core.config.presets import DynamicsConfig, ModelConfig
from glasslab.core.measure import noise
from glasslab.core.system.dynamics import one_epoch
from glasslab.core.system.models import build, flatten_parameters

EPS = torch.finfo(torch.float64).eps


def _data(shape, n, classes=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    return x, torch.randint(0, classes, (n,), generator=gen)


def _model(cfg, shape, classes=10, seed=0):
    torch.manual_seed(seed)
    return build(cfg, shape, classes).double()


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


class LinearRegression(nn.Module):
    """l_alpha = (x_alpha . w - t_alpha)^2 / 2, the target t riding in the last input column."""

    loss_kind = "energy"  # forward returns l_alpha itself

    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, 1, bias=False)

    def forward(self, xt):
        return 0.5 * (self.lin(xt[:, :-1]).squeeze(1) - xt[:, -1]) ** 2


class SeqNet(nn.Module):
    """Linear layers on [B, T, d] inputs (ghost norm for small T, materialised for large T),
    plus one Linear applied twice and a LayerNorm (the whole-model and per-layer vjp routes)."""

    loss_kind = "cross_entropy"

    def __init__(self, d, classes):
        super().__init__()
        self.inp = nn.Linear(d, 6)
        self.twice = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)
        self.head = nn.Linear(6, classes)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = self.norm(torch.tanh(self.twice(torch.tanh(self.twice(h)))))
        return self.head(h.mean(1))


class BNNet(nn.Module):
    """Conv2d + BatchNorm2d + Linear: small enough to check modes, buffers and .grad."""

    loss_kind = "cross_entropy"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


def test_linear_regression_matches_closed_form():
    d, M = 5, 37
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(M, d, generator=gen, dtype=torch.float64)
    t = torch.randn(M, generator=gen, dtype=torch.float64)
    torch.manual_seed(2)
    model = LinearRegression(d).double()
    res = noise.noise_strength(model, torch.cat([X, t[:, None]], 1), torch.zeros(M, dtype=torch.long), chunk=10)

    # per-sample gradient (x.w - t) x, in numpy
    Xn, tn, w = X.numpy(), t.numpy(), model.lin.weight.detach().numpy()[0]
    G = (Xn @ w - tn)[:, None] * Xn
    mean_sq = np.mean(np.sum(G ** 2, 1))
    grad_norm2 = np.sum(G.mean(0) ** 2)
    tol = 8 * (M + d) * EPS * (mean_sq + grad_norm2)
    assert res.M == M and not res.eval_mode
    assert abs(res.mean_sq_norm - mean_sq) <= tol
    assert abs(res.grad_norm2 - grad_norm2) <= tol
    assert abs(res.D - (mean_sq - grad_norm2)) <= tol
    assert res.D > 100 * tol  # the check above is not trivially satisfied


CASES = {
    "toy": (ModelConfig(kind="toy", width=16), (1, 8, 8), 6),
    "fc": (ModelConfig(kind="fc", width=16, depth=2), (1, 8, 8), 6),
    "smallnet-cifar": (ModelConfig(kind="smallnet"), (3, 32, 32), 4),
    "smallnet-mnist": (ModelConfig(kind="smallnet"), (1, 28, 28), 4),
    "resnet18-none": (ModelConfig(kind="resnet18", norm="none"), (3, 32, 32), 2),
    "resnet18-group": (ModelConfig(kind="resnet18", norm="group"), (3, 32, 32), 2),
    "resnet18-batch": (ModelConfig(kind="resnet18", norm="batch"), (3, 32, 32), 2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fast_norms_match_loop(name):
    cfg, shape, B = CASES[name]
    model = _model(cfg, shape)
    x, y = _data(shape, B)
    if cfg.norm == "batch":
        model.eval()  # the measurement's own mode; the loop below uses it too
    fast = noise.per_sample_sq_norms(model, x, y)
    loop = noise.per_sample_sq_norms_loop(model, x, y)
    # each norm sums N squared entries: rounding at most ~N eps relative
    tol = min(1e-5, 64 * _n_params(model) * EPS)
    assert fast.shape == (B,) and fast.dtype == torch.float64
    assert torch.all(loop > 0)
    assert ((fast - loop).abs() / loop).max().item() < tol


@pytest.mark.parametrize("T", [2, 12])  # 2 T^2 <= in*out: ghost norm; else materialised
def test_sequence_linear_shared_module_and_layernorm(T):
    torch.manual_seed(0)
    model = SeqNet(8, 5).double()
    x, y = _data((T, 8), 5, classes=5)
    fast = noise.per_sample_sq_norms(model, x, y)
    loop = noise.per_sample_sq_norms_loop(model, x, y)
    vm = noise.per_sample_sq_norms_vmap(model, x, y)
    tol = 64 * _n_params(model) * EPS
    assert ((fast - loop).abs() / loop).max().item() < tol
    assert ((vm - loop).abs() / loop).max().item() < tol


def test_conv_with_stride_dilation_padding_and_odd_kernel():
    # the patches of core/measure/noise.py are built by hand: check them where ResNet does not go
    # (first conv: materialised, 2 L^2 = 1250 > K O = 36; second: ghost norm, 1250 <= 27 * 48)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), nn.ReLU(),
                          nn.Conv2d(3, 48, 3, padding=2, dilation=2), nn.Flatten(), nn.LazyLinear(4))
    x, y = _data((2, 9, 7), 3, classes=4)
    model(x.float())  # materialise the lazy layer
    model = model.double()
    model.loss_kind = "cross_entropy"
    fast = noise.per_sample_sq_norms(model, x, y)
    loop = noise.per_sample_sq_norms_loop(model, x, y)
    assert ((fast - loop).abs() / loop).max().item() < 64 * _n_params(model) * EPS


def test_vmap_reference_matches_loop():
    model = _model(ModelConfig(kind="toy", width=16), (1, 8, 8))  # toy: the one_hot loss
    x, y = _data((1, 8, 8), 5)
    vm = noise.per_sample_sq_norms_vmap(model, x, y)
    loop = noise.per_sample_sq_norms_loop(model, x, y)
    assert ((vm - loop).abs() / loop).max().item() < 64 * _n_params(model) * EPS


def test_harmonic_has_no_noise():
    # l_alpha = k |w|^2 / 2 for every alpha: grad l_alpha = k w for all samples, D = 0
    k, width, M = 0.7, 9, 13
    model = _model(ModelConfig(kind="harmonic", width=width, stiffness=k, init_std=1.0), (3,))
    x, y = _data((3,), M)
    res = noise.noise_strength(model, x, y, chunk=5)
    exact = k * k * model.w.detach().square().sum().item()
    tol = 8 * (width + M) * EPS * exact
    assert abs(res.mean_sq_norm - exact) <= tol
    assert abs(res.grad_norm2 - exact) <= tol
    assert abs(res.D) <= tol


def test_noise_strength_leaves_model_alone():
    torch.manual_seed(3)
    model = BNNet().double()
    flat = flatten_parameters(model)  # .grad as views into one buffer, as in training
    flat.grad.copy_(torch.randn_like(flat.grad))
    x, y = _data((1, 8, 8), 20)
    model.train()
    before_w, before_g = flat.w.clone(), flat.grad.clone()
    before_buffers = [b.clone() for b in model.buffers()]
    before_rng = torch.get_rng_state()

    res = noise.noise_strength(model, x, y, chunk=8)

    assert res.eval_mode and noise.uses_eval_mode(model)
    assert model.training and model.bn.training  # modes restored
    assert torch.equal(flat.w, before_w) and torch.equal(flat.grad, before_g)
    storage = flat.grad.untyped_storage().data_ptr()
    assert all(p.grad.untyped_storage().data_ptr() == storage for p in model.parameters())  # still views
    assert all(torch.equal(a, b) for a, b in zip(model.buffers(), before_buffers))  # no running-stat update
    assert torch.equal(torch.get_rng_state(), before_rng)
    assert res.D > 0 and res.mean_sq_norm > res.grad_norm2 > 0

    # measured in eval mode: against a hand-written loop on an eval-mode copy
    ref = copy.deepcopy(model).eval()
    params = list(ref.parameters())
    per_sample = [torch.autograd.grad(F.cross_entropy(ref(x[i:i + 1]), y[i:i + 1]), params) for i in range(len(x))]
    mean_sq = np.mean([sum(g.square().sum().item() for g in gs) for gs in per_sample])
    grad_norm2 = sum(g.square().sum().item() for g in torch.autograd.grad(F.cross_entropy(ref(x), y), params))
    tol = 8 * (len(x) + _n_params(model)) * EPS * (mean_sq + grad_norm2)
    assert abs(res.mean_sq_norm - mean_sq) <= tol and abs(res.grad_norm2 - grad_norm2) <= tol


def test_noise_strength_chunking_and_independent_terms():
    model = _model(ModelConfig(kind="smallnet"), (1, 28, 28))
    M = 24
    x, y = _data((1, 28, 28), M)
    whole = noise.noise_strength(model, x, y, chunk=M)
    chunked = noise.noise_strength(model, x, y, chunk=7)
    scale = whole.mean_sq_norm + whole.grad_norm2
    tol = 8 * (M + _n_params(model)) * EPS * scale
    assert whole.M == chunked.M == M
    assert abs(whole.D - chunked.D) <= tol
    assert abs(whole.mean_sq_norm - chunked.mean_sq_norm) <= tol

    # the two terms, each from an independent route
    loop = noise.per_sample_sq_norms_loop(model, x, y)
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    grad_norm2 = sum(p.grad.square().sum().item() for p in model.parameters())
    assert abs(whole.mean_sq_norm - loop.mean().item()) <= tol
    assert abs(whole.grad_norm2 - grad_norm2) <= tol
    assert whole.D > 1e6 * tol


def _epoch(B: int, M: int, seed: int) -> list[torch.Tensor]:
    return one_epoch(DynamicsConfig(batch_size=B), M, torch.Generator().manual_seed(seed))


def test_minibatch_variance_against_naive():
    model = _model(ModelConfig(kind="fc", width=16, depth=2), (1, 8, 8))
    M, B = 23, 5  # 4 full batches, 3 samples dropped
    x, y = _data((1, 8, 8), M)
    got = noise.minibatch_variance(model, x, y, _epoch(B, M, 4))

    perm = torch.randperm(M, generator=torch.Generator().manual_seed(4))
    gs = []
    for b in range(M // B):
        idx = perm[b * B:(b + 1) * B]
        model.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        gs.append(np.concatenate([p.grad.numpy().ravel() for p in model.parameters()]))
    gs = np.array(gs)
    naive = np.sum(np.mean(gs ** 2, 0) - np.mean(gs, 0) ** 2)
    tol = 8 * (M // B) * gs.shape[1] * EPS * np.sum(np.mean(gs ** 2, 0))
    assert naive > 1e6 * tol
    assert abs(got - naive) <= tol

    # B = 1 over the whole set is D itself; B = M leaves one minibatch, no variance
    res = noise.noise_strength(model, x, y)
    d1 = noise.minibatch_variance(model, x, y, _epoch(1, M, 5))
    assert abs(d1 - res.D) <= 8 * (M + _n_params(model)) * EPS * (res.mean_sq_norm + res.grad_norm2)
    assert noise.minibatch_variance(model, x, y, _epoch(M, M, 6)) == 0.0
    with pytest.raises(ValueError):
        _epoch(M + 1, M, 0)


def test_probe_indices():
    assert torch.equal(noise.probe_indices(7, 10, seed=0), torch.arange(7))
    assert torch.equal(noise.probe_indices(10, 10, seed=0), torch.arange(10))
    a = noise.probe_indices(1000, 50, seed=1)
    assert a.dtype == torch.long and len(a) == 50 and len(a.unique()) == 50
    assert torch.all(a[1:] > a[:-1]) and 0 <= a.min() and a.max() < 1000
    assert torch.equal(a, noise.probe_indices(1000, 50, seed=1))
    assert not torch.equal(a, noise.probe_indices(1000, 50, seed=2))
