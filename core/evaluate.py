"""Full-set loss and accuracy at a snapshot, in eval mode (SCIENCE.md, "Observables")."""

from __future__ import annotations

import math

import torch
from torch import nn

from .data import DataSet
from .models import correct, per_sample_loss
from .records import Evaluation


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int) -> tuple[float, float]:
    """Mean per-sample loss and accuracy over (x, y), `chunk` samples per forward pass.

    Sums are kept on the device and read back once (a single sync point).
    """
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    hits = torch.zeros((), dtype=torch.int64, device=x.device)
    has_acc = True
    for s in range(0, len(x), chunk):
        out = model(x[s:s + chunk])
        loss_sum += per_sample_loss(model, out, y[s:s + chunk]).double().sum()
        c = correct(model, out, y[s:s + chunk])
        if c is None:
            has_acc = False
        else:
            hits += c
    n = len(x)
    return float(loss_sum) / n, (float(hits) / n if has_acc else math.nan)


def evaluate(model: nn.Module, data: DataSet, chunk: int) -> Evaluation:
    """Train and test loss/accuracy in eval mode; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        tl, ta = loss_and_accuracy(model, data.x_train, data.y_train, chunk)
        vl, va = loss_and_accuracy(model, data.x_test, data.y_test, chunk)
    finally:
        model.train(was_training)
    return Evaluation(tl, ta, vl, va)
