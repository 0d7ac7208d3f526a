"""The networks of [BJ18] and a harmonic model for physics checks, with their losses.

Each model carries `loss_kind`, which fixes its per-sample loss l_alpha:
- "mse_sigmoid" (toy): sigmoid outputs, l_alpha = (1/C) sum_c (sigma_c - onehot_c)^2,
  i.e. torch's MSELoss(reduction="mean") over the batch (the [BJ18] toy model);
- "cross_entropy" (fc, smallnet, resnet18);
- "energy" (harmonic): the network *is* the landscape L(w) = k |w|^2 / 2, the same
  for every sample, so Langevin runs on it have exact answers (SCIENCE.md).
The mean loss L = (1/B) sum_alpha l_alpha in every case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .presets import ModelConfig


class Toy(nn.Module):
    """[BJ18] toy model: one hidden layer of width m, ReLU, sigmoid outputs, MSE on one-hot targets."""

    loss_kind = "mse_sigmoid"

    def __init__(self, in_features: int, width: int, classes: int):
        super().__init__()
        self.hidden = nn.Linear(in_features, width)
        self.out = nn.Linear(width, classes)

    def forward(self, x):
        return torch.sigmoid(self.out(F.relu(self.hidden(x.flatten(1)))))


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

    The exact Langevin results of SCIENCE.md (free diffusion, discrete-time
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
    """The network a preset names, freshly initialised from the current torch RNG state."""
    in_features = math.prod(input_shape)
    if cfg.kind == "toy":
        return Toy(in_features, cfg.width, classes)
    if cfg.kind == "fc":
        return FC(in_features, cfg.width, cfg.depth, classes)
    if cfg.kind == "smallnet":
        return SmallNet(input_shape, classes)
    if cfg.kind == "resnet18":
        return resnet18(input_shape, classes, cfg.norm)
    if cfg.kind == "harmonic":
        return Harmonic(cfg.width, cfg.stiffness, cfg.init_std)
    raise ValueError(f"unknown model kind {cfg.kind!r}")


def count_params(cfg: ModelConfig, input_shape: tuple[int, ...], classes: int) -> int:
    """N, without allocating the weights (built on the meta device)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build(cfg, input_shape, classes).parameters())


def per_sample_loss(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """l_alpha for each sample of the batch (see the module docstring)."""
    kind = model.loss_kind
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
    return out.mean()


def correct(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Number of correct predictions (None where accuracy means nothing, as for harmonic)."""
    if model.loss_kind == "energy":
        return None
    return (out.argmax(dim=1) == y).sum()


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
