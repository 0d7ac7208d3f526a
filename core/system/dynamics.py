"""GD, SGD and Langevin updates on the flat parameter vector (docs/science.md, section 2).

- gd:       w <- w - eta * grad L(w), L over the whole training set, accumulated
            in chunks of dynamics.gd_chunk samples when one pass does not fit;
- sgd:      w <- w - eta * v, v <- mu v + grad L_B(w) (+ lambda w), minibatches of
            B samples as dynamics.sampler says: reshuffle (a fresh permutation each
            epoch, cut into batches: without replacement within an epoch) or
            replacement (B independent uniform draws each step);
- langevin: w <- w - eta * grad L(w) + sqrt(2 eta T) xi, xi ~ N(0, I) fresh each
            step; overdamped (no momentum); full-batch drift unless minibatch_drift.

The Trainer owns everything that evolves besides w: the momentum buffer, the
minibatch permutation and its position, and the noise generator, so that its
`state()` is all a resume needs next to w.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from glasslab.core.config import dynamics
from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.system.data import DataSet
from glasslab.core.system.models import FlatParams, mean_loss


def derived_seed(seed: int, stream: int) -> int:
    """Independent seeds for independent random streams of one run."""
    return (seed * 1_000_003 + stream * 7_919) % (2**63 - 1)


class Minibatches:
    """Minibatch indices, drawn by the dynamics' sampler (core/config/dynamics.py) from one generator.

    reshuffle: a fresh permutation each epoch, batches without replacement; the last
    partial batch of an epoch is dropped so every step sees exactly B samples.
    replacement: B indices drawn uniformly with replacement, independently each step.
    Both draw on the CPU (deterministic everywhere) and from the same generator, whose
    state, with the permutation and its position, is the whole resume state: a switch
    between samplers mid-run continues the same stream, and a resume replays it bitwise.
    """

    def __init__(self, n: int, device: torch.device, seed: int):
        self.n, self.device = n, device
        self.gen = torch.Generator().manual_seed(derived_seed(seed, 1))
        self.perm = torch.randperm(n, generator=self.gen).to(device)
        self.pos = 0

    def take(self, batch: int, sampler: str = dynamics.RESHUFFLE) -> torch.Tensor:
        if sampler == dynamics.REPLACEMENT:  # the permutation and its position wait untouched
            return torch.randint(self.n, (batch,), generator=self.gen).to(self.device)
        if self.pos + batch > self.n:
            self.perm = torch.randperm(self.n, generator=self.gen).to(self.device)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + batch]
        self.pos += batch
        return idx

    def state(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm.to("cpu", copy=True), "pos": self.pos}

    def load_state(self, st: dict) -> None:
        self.gen.set_state(st["gen"])
        self.perm = st["perm"].to(self.device)
        self.pos = int(st["pos"])


def one_epoch(cfg: DynamicsConfig, n: int, generator: torch.Generator) -> list[torch.Tensor]:
    """The minibatches of one epoch over n samples as `cfg` draws them: n // B index tensors of B
    samples (CPU).  reshuffle: a permutation from `generator` cut into batches (a last, smaller batch is
    dropped); replacement: each batch B independent uniform draws.  D_B
    (core/measure/noise.minibatch_variance) measures the variance over them.  ValueError if B > n."""
    B = int(cfg.batch_size)
    if n // B == 0:
        raise ValueError(f"batch_size {B} exceeds the {n} samples")
    if cfg.sampler == dynamics.REPLACEMENT:
        return list(torch.randint(n, (n // B, B), generator=generator))
    perm = torch.randperm(n, generator=generator)
    return [perm[b * B:(b + 1) * B] for b in range(n // B)]


class Trainer:
    """One update of w per call to `step()`, under the current dynamics."""

    def __init__(self, model: nn.Module, flat: FlatParams, data: DataSet, cfg: DynamicsConfig, seed: int):
        self.model, self.flat, self.data, self.cfg = model, flat, data, cfg
        device = flat.w.device
        self.batches = Minibatches(data.train_size, device, seed)
        self.noise_gen = torch.Generator(device=device).manual_seed(derived_seed(seed, 2))
        self.momentum_buf: torch.Tensor | None = None

    # -- gradients ---------------------------------------------------------
    def full_gradient(self) -> torch.Tensor:
        """grad L over the whole training set into flat.grad; returns L (a device scalar)."""
        x, y, P = self.data.x_train, self.data.y_train, self.data.train_size
        chunk = self.cfg.gd_chunk or P
        self.flat.grad.zero_()
        total = torch.zeros((), device=x.device, dtype=self.flat.w.dtype)
        for s in range(0, P, chunk):
            xb, yb = x[s:s + chunk], y[s:s + chunk]
            loss = mean_loss(self.model, self.model(xb), yb) * (len(xb) / P)
            loss.backward()
            total += loss.detach()
        return total

    def batch_gradient(self) -> torch.Tensor:
        idx = self.batches.take(self.cfg.batch_size, self.cfg.sampler)
        self.flat.grad.zero_()
        loss = mean_loss(self.model, self.model(self.data.x_train[idx]), self.data.y_train[idx])
        loss.backward()
        return loss.detach()

    # -- one step ----------------------------------------------------------
    @torch.no_grad()
    def _update(self) -> None:
        cfg, w, g = self.cfg, self.flat.w, self.flat.grad
        if cfg.weight_decay:
            g.add_(w, alpha=cfg.weight_decay)
        if cfg.momentum and dynamics.has_momentum(cfg.kind):
            if self.momentum_buf is None:
                self.momentum_buf = g.clone()  # torch.optim.SGD's convention: v_1 = g_1
            else:
                self.momentum_buf.mul_(cfg.momentum).add_(g)
            g = self.momentum_buf
        w.add_(g, alpha=-cfg.lr)
        if dynamics.has_temperature(cfg.kind) and cfg.temperature > 0:
            xi = torch.randn(w.shape, generator=self.noise_gen, device=w.device, dtype=w.dtype)
            w.add_(xi, alpha=math.sqrt(2.0 * cfg.lr * cfg.temperature))

    def step(self) -> torch.Tensor:
        """One update; returns the loss that drove it (minibatch or full), on the device."""
        loss = self.full_gradient() if dynamics.full_batch(self.cfg) else self.batch_gradient()
        self._update()
        return loss

    # -- switching and resuming --------------------------------------------
    def switch(self, cfg: DynamicsConfig) -> None:
        """Change the dynamics between two steps; momentum restarts from zero."""
        if (cfg.kind, cfg.momentum) != (self.cfg.kind, self.cfg.momentum):
            self.momentum_buf = None
        self.cfg = cfg

    def state(self) -> dict:
        return {
            "dynamics": dataclasses.asdict(self.cfg),
            "momentum_buf": None if self.momentum_buf is None else self.momentum_buf.detach().to("cpu", copy=True),
            "batches": self.batches.state(),
            "noise_gen": self.noise_gen.get_state(),
        }

    def load_state(self, st: dict) -> None:
        self.cfg = DynamicsConfig(**st["dynamics"])
        buf = st["momentum_buf"]
        self.momentum_buf = None if buf is None else buf.to(self.flat.w.device)
        self.batches.load_state(st["batches"])
        self.noise_gen.set_state(st["noise_gen"])
