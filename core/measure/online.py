"""Observables measured during a run, at each snapshot (docs/science.md, section 4).

- Two-time observables for a few online waiting times: the snapshots w(t_w) are
  kept on the device, and at every later snapshot t the recorder fills
  Delta(t_w, t), Q(t_w, t; eps = std(w(t_w))/f), alpha_2 and Y (core/measure/observables.py,
  float64 from the difference, no TF32, no Gram matrix);
- the noise strength D over a probe set (per-sample norms, core/measure/noise.py) and
  [BJ18]'s minibatch variance D_B, every `d_every` snapshots;
- |w|^2 / N at every snapshot.

The recorder never touches the training RNG streams (D_B draws its batches from
a generator of its own, seeded per snapshot), so recording does not change the
trajectory and a resumed run stays bitwise identical.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from glasslab.core.config.presets import Preset
from glasslab.core.measure import noise, observables
from glasslab.core.system.data import DataSet
from glasslab.core.system.dynamics import derived_seed, one_epoch


def online_waiting_times(steps: list[int], n: int) -> list[int]:
    """Indices of about n snapshot times, log-spread from the first non-zero time to t_max/10.

    Ending a decade before the last snapshot leaves every online curve at least
    a decade of lags; the grid is log-spaced, so even index spacing is log spacing.
    """
    if n <= 0 or len(steps) < 3:
        return []
    last = max(i for i, t in enumerate(steps) if i == 1 or t <= steps[-1] / 10)
    return sorted(set(int(i) for i in np.rint(np.linspace(1, last, n))))


class OnlineObservables:
    def __init__(self, preset: Preset, model: nn.Module, data: DataSet, snapshot_steps: list[int]):
        rec = preset.recording
        self.model, self.data, self.rec = model, data, rec
        self.seed = preset.run.seed
        self.batch_size = min(preset.dynamics.batch_size, data.train_size)
        # D_B's batches: B samples drawn as the preset's dynamics draws them
        self.dynamics = dataclasses.replace(preset.dynamics, batch_size=self.batch_size)
        self.waiting = online_waiting_times(snapshot_steps, rec.waiting_times)
        self.kept: dict[int, tuple[torch.Tensor, float]] = {}  # index -> (w(t_w) on device, eps)
        probe = noise.probe_indices(data.train_size, rec.probe_size, derived_seed(self.seed, 3))
        self.probe_x = data.x_train[probe.to(data.x_train.device)]
        self.probe_y = data.y_train[probe.to(data.y_train.device)]
        self.eval_mode = noise.uses_eval_mode(model)

    def measure(self, index: int, w: torch.Tensor) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
        """(per-snapshot observables, {t_w index: two-time observables}) at snapshot `index`."""
        obs = {"weight_norm2": observables.weight_norm2(w)}
        if self.rec.d_every and index % self.rec.d_every == 0 and self.model.loss_kind != "energy":
            r = noise.noise_strength(self.model, self.probe_x, self.probe_y, chunk=self.rec.eval_chunk)
            obs["D"] = r.D
            if self.rec.d_batch and len(self.probe_x) >= self.batch_size:
                gen = torch.Generator().manual_seed(derived_seed(self.seed, 1000 + index))
                batches = one_epoch(self.dynamics, len(self.probe_x), gen)
                obs["D_batch"] = noise.minibatch_variance(self.model, self.probe_x, self.probe_y, batches)
        rows = {}
        for i, (w_tw, eps) in self.kept.items():
            s = observables.displacement(w_tw, w, eps)
            rows[i] = {"delta": s.delta, "overlap": s.overlap, "alpha2": s.alpha2, "participation": s.participation}
        if index in self.waiting:
            self.kept[index] = (w.detach().clone(), observables.overlap_eps(w, self.rec.overlap_f))
        return obs, rows

    def restore(self, stored: dict[int, np.ndarray]) -> None:
        """After a resume: put back the kept waiting-time snapshots (read from the store)."""
        device = self.data.x_train.device
        for i, w in stored.items():
            if i in self.waiting:
                t = torch.from_numpy(np.asarray(w)).to(device)
                self.kept[i] = (t, observables.overlap_eps(t, self.rec.overlap_f))


def nan_if_none(x) -> float:
    return math.nan if x is None else float(x)
