"""The networks of [BJ18] and a harmonic model for physics checks, with their losses.

Each model carries `loss_kind`, which fixes its per-sample loss l_alpha:
- "mse_sigmoid" (toy): sigmoid outputs, l_alpha = (1/C) sum_c (sigma_c - onehot_c)^2,
  i.e. torch's MSELoss(reduction="mean") over the batch (the [BJ18] toy model);
- "cross_entropy" (fc, smallnet, resnet18);
- "energy" (harmonic): the network *is* the landscape L(w) = k |w|^2 / 2, the same
  for every sample, so Langevin runs on it have exact answers (docs/science.md);
- "hinge", "hinge2" (model.loss, any model but harmonic): the [SG19] setting, a
  binary task with labels y = +1/-1 and one output f(x), raw (the toy model
  drops its sigmoid, which could never reach a margin y f >= 1):
      hinge:  l_alpha = max(0, 1 - y_alpha f(x_alpha))
      hinge2: l_alpha = (1/2) max(0, 1 - y_alpha f(x_alpha))^2
  A sample with y f < 1 is an unsatisfied constraint; N_Delta counts them.
The mean loss L = (1/B) sum_alpha l_alpha in every case.

[SG19] S. Spigler, M. Geiger, S. d'Ascoli, L. Sagun, G. Biroli, M. Wyart, "A jamming
transition from under- to over-parametrization affects loss landscape and
generalization", arXiv:1810.09665.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from glasslab.core.config.presets import HINGE_LOSSES, ModelConfig


class Toy(nn.Module):
    """[BJ18] toy model: one hidden layer of width m, ReLU, sigmoid outputs, MSE on one-hot targets."""

    loss_kind = "mse_sigmoid"

    def __init__(self, in_features: int, width: int, classes: int, sigmoid: bool = True):
        super().__init__()
        self.hidden = nn.Linear(in_features, width)
        self.out = nn.Linear(width, classes)
        self.sigmoid = sigmoid  # False under a hinge loss: f(x) must reach |f| >= 1

    def forward(self, x):
        f = self.out(F.relu(self.hidden(x.flatten(1))))
        return torch.sigmoid(f) if self.sigmoid else f


class FC(nn.Module):
    """Fully connected net: `depth` hidden ReLU layers of `width`, cross-entropy ([BJ18] (b))."""

    loss_kind = "cross_entropy"

    def __init__(self, in_features: int, width: int, depth: int, classes: int):
        super().__init__()
        layers, fan_in = [], in_features
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.flatten(1))


class SmallNet(nn.Module):
    """[BJ18] (c): conv 5x5 -> 10, max-pool 2, ReLU, conv 5x5 -> 20, max-pool 2, ReLU, FC 100, ReLU, FC classes."""

    loss_kind = "cross_entropy"

    def __init__(self, input_shape: tuple[int, ...], classes: int):
        super().__init__()
        c, h, w = input_shape
        self.conv1 = nn.Conv2d(c, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        side_h, side_w = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(20 * side_h * side_w, 100)
        self.fc2 = nn.Linear(100, classes)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def _norm_layer(norm: str):
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "group":
        return lambda c: nn.GroupNorm(min(32, c), c)
    return lambda c: nn.Identity()


def resnet18(input_shape: tuple[int, ...], classes: int, norm: str) -> nn.Module:
    """torchvision's ResNet-18 adapted to 32x32 inputs: 3x3 stride-1 stem, no max-pool ([BJ18] (d))."""
    import torchvision  # imported here: the other models do not need it

    net = torchvision.models.resnet18(num_classes=classes, norm_layer=_norm_layer(norm))
    net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.loss_kind = "cross_entropy"
    return net


class Harmonic(nn.Module):
    """L(w) = k |w|^2 / 2 over `width` coordinates, whatever the data (k = 0: a flat landscape).

    The exact Langevin results of docs/science.md (free diffusion, discrete-time
    equipartition, Ornstein-Uhlenbeck aging) hold for it, so it tests the whole
    dynamics -> snapshot -> store -> Delta pipeline.
    """

    loss_kind = "energy"

    def __init__(self, width: int, stiffness: float, init_std: float):
        super().__init__()
        self.stiffness = stiffness
        self.w = nn.Parameter(torch.randn(width) * init_std if init_std > 0 else torch.zeros(width))

    def forward(self, x):
        energy = 0.5 * self.stiffness * (self.w * self.w).sum()
        return energy.expand(x.shape[0])


def build(cfg: ModelConfig, input_shape: tuple[int, ...], classes: int) -> nn.Module:
    """The network a preset names, freshly initialised from the current torch RNG state.

    Under a hinge loss (model.loss, [SG19]) the network has one output whatever
    `classes` is, and its `loss_kind` is that loss.  ValueError for a harmonic
    model with a hinge loss (presets.check refuses it first, with a clear line).
    """
    in_features = math.prod(input_shape)
    hinge = cfg.loss in HINGE_LOSSES
    outputs = 1 if hinge else classes
    if cfg.kind == "toy":
        net = Toy(in_features, cfg.width, outputs, sigmoid=not hinge)
    elif cfg.kind == "fc":
        net = FC(in_features, cfg.width, cfg.depth, outputs)
    elif cfg.kind == "smallnet":
        net = SmallNet(input_shape, outputs)
    elif cfg.kind == "resnet18":
        net = resnet18(input_shape, outputs, cfg.norm)
    elif cfg.kind == "harmonic":
        if hinge:
            raise ValueError("the harmonic model has no output to put a hinge loss on")
        return Harmonic(cfg.width, cfg.stiffness, cfg.init_std)
    else:
        raise ValueError(f"unknown model kind {cfg.kind!r}")
    if hinge:
        net.loss_kind = cfg.loss  # an instance attribute: the class keeps its own default
    return net


def count_params(cfg: ModelConfig, input_shape: tuple[int, ...], classes: int) -> int:
    """N, without allocating the weights (built on the meta device)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build(cfg, input_shape, classes).parameters())


def constraint_gap(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max(0, 1 - y f(x)) per sample, [B], for one output f = out[:, 0] and labels y = +1/-1 ([SG19]).

    Positive exactly for the unsatisfied constraints (y f < 1): the hinge loss,
    the quadratic hinge and N_Delta all read this one tensor, so N_Delta = 0 if
    and only if the hinge losses are exactly 0.
    """
    return (1 - y.to(out.dtype) * out[:, 0]).clamp_min(0)


def per_sample_loss(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """l_alpha for each sample of the batch (see the module docstring)."""
    kind = model.loss_kind
    if kind == "hinge":
        return constraint_gap(out, y)
    if kind == "hinge2":
        return 0.5 * constraint_gap(out, y).square()
    if kind == "mse_sigmoid":
        target = F.one_hot(y, out.shape[1]).to(out.dtype)
        return ((out - target) ** 2).mean(dim=1)
    if kind == "cross_entropy":
        return F.cross_entropy(out, y, reduction="none")
    return out  # energy: the forward pass already returns l_alpha


def mean_loss(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L = mean over the batch of l_alpha."""
    kind = model.loss_kind
    if kind == "mse_sigmoid":
        return F.mse_loss(out, F.one_hot(y, out.shape[1]).to(out.dtype))
    if kind == "cross_entropy":
        return F.cross_entropy(out, y)
    if kind in HINGE_LOSSES:
        return per_sample_loss(model, out, y).mean()
    return out.mean()


def correct(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Number of correct predictions (None where accuracy means nothing, as for harmonic).

    Binary task ([SG19]): sign agreement, y f(x) > 0 (f = 0 counts as wrong).
    """
    if model.loss_kind == "energy":
        return None
    if model.loss_kind in HINGE_LOSSES:
        return (y.to(out.dtype) * out[:, 0] > 0).sum()
    return (out.argmax(dim=1) == y).sum()


def unsatisfied(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """N_Delta of the batch: #{alpha : y_alpha f(x_alpha) < 1} ([SG19]); None without a hinge loss."""
    if model.loss_kind not in HINGE_LOSSES:
        return None
    return (constraint_gap(out, y) > 0).sum()


@dataclass(frozen=True)
class FlatParams:
    """All N trainable parameters as one vector w, with the gradient as one vector too.

    Each parameter's .data and .grad are views into `w` and `grad`, so an update
    of w is one kernel, a snapshot is one copy, and Delta needs no concatenation.
    Autograd accumulates into an existing .grad in place, which keeps the views.
    """

    w: torch.Tensor
    grad: torch.Tensor
    layout: list[tuple[str, list[int], int]]  # (name, shape, offset)


def flatten_parameters(model: nn.Module) -> FlatParams:
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    n = sum(p.numel() for _, p in params)
    first = params[0][1]
    w = torch.empty(n, dtype=first.dtype, device=first.device)
    grad = torch.zeros_like(w)
    layout, offset = [], 0
    with torch.no_grad():
        for name, p in params:
            k = p.numel()
            w[offset:offset + k].copy_(p.reshape(-1))
            p.data = w[offset:offset + k].view_as(p)
            p.grad = grad[offset:offset + k].view_as(p)
            layout.append((name, list(p.shape), offset))
            offset += k
    return FlatParams(w, grad, layout)
