"""Full-set loss and accuracy at a snapshot, in eval mode (docs/science.md, section 4).

Under a hinge loss also N_Delta, the number of training samples with
y f(x) < 1 (unsatisfied constraints, [SG19]), from the same forward passes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from glasslab.core.records import Evaluation
from glasslab.core.system.data import DataSet
from glasslab.core.system.models import correct, per_sample_loss, unsatisfied


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int) -> tuple[float, float]:
    """Mean per-sample loss and accuracy over (x, y), `chunk` samples per forward pass."""
    loss, acc, _ = loss_accuracy_unsatisfied(model, x, y, chunk)
    return loss, acc


@torch.no_grad()
def loss_accuracy_unsatisfied(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                              chunk: int) -> tuple[float, float, float]:
    """(mean per-sample loss, accuracy, N_Delta) over (x, y), `chunk` samples per forward pass.

    N_Delta = #{alpha : y_alpha f(x_alpha) < 1} ([SG19]), a count (NaN without a
    hinge loss); accuracy NaN where it means nothing (harmonic).  Sums are kept
    on the device and read back once (a single sync point).
    """
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    hits = torch.zeros((), dtype=torch.int64, device=x.device)
    n_delta = torch.zeros((), dtype=torch.int64, device=x.device)
    has_acc = has_n_delta = True
    for s in range(0, len(x), chunk):
        out = model(x[s:s + chunk])
        yc = y[s:s + chunk]
        loss_sum += per_sample_loss(model, out, yc).double().sum()
        c = correct(model, out, yc)
        if c is None:
            has_acc = False
        else:
            hits += c
        u = unsatisfied(model, out, yc)
        if u is None:
            has_n_delta = False
        else:
            n_delta += u
    n = len(x)
    return (float(loss_sum) / n, float(hits) / n if has_acc else math.nan,
            float(n_delta) if has_n_delta else math.nan)


def evaluate(model: nn.Module, data: DataSet, chunk: int) -> Evaluation:
    """Train and test loss/accuracy, and N_Delta on the training set, in eval mode.

    The model's mode is restored after.
    """
    was_training = model.training
    model.eval()
    try:
        tl, ta, n_delta = loss_accuracy_unsatisfied(model, data.x_train, data.y_train, chunk)
        vl, va = loss_and_accuracy(model, data.x_test, data.y_test, chunk)
    finally:
        model.train(was_training)
    return Evaluation(tl, ta, vl, va, n_delta)
