"""On-device index batching against torchvision's DataLoader, same model and steps.

Index batching: the whole training set is one tensor on the device and a
minibatch is x[perm[i:i+B]] (what core/system/dynamics.py does).  DataLoader: a
TensorDataset with shuffle=True and the default collate (num_workers=0, the
usual setting for data already in memory).  Prints steps/s of both and the ratio.

    .venv/bin/python benchmarks/batching.py [--preset fmnist-toy-over] [--steps 3000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from glasslab.core.config import presets
from glasslab.core.system import data as datasets  # noqa: E402
from glasslab.core.system import models  # noqa: E402


def train(p, d, steps: int, loader: bool) -> float:
    torch.manual_seed(0)
    model = models.build(p.model, d.input_shape, d.classes)
    opt = torch.optim.SGD(model.parameters(), lr=p.dynamics.lr, momentum=p.dynamics.momentum)
    B, P = p.dynamics.batch_size, d.train_size

    def batches():
        if loader:
            dl = DataLoader(TensorDataset(d.x_train, d.y_train), batch_size=B, shuffle=True, drop_last=True)
            while True:
                yield from dl
        else:
            while True:
                perm = torch.randperm(P)
                for s in range(0, P - B + 1, B):
                    idx = perm[s:s + B]
                    yield d.x_train[idx], d.y_train[idx]

    it = batches()
    t0 = time.perf_counter()
    for _ in range(steps):
        xb, yb = next(it)
        opt.zero_grad()
        models.mean_loss(model, model(xb), yb).backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["quickstart", "fmnist-toy-over"])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    print(f"{'preset':<18} {'index steps/s':>14} {'DataLoader steps/s':>19} {'ratio':>6}")
    for name in args.presets:
        p = presets.load(name, ["run.device=cpu"])
        d = datasets.load(p.data, "cpu")
        train(p, d, 100, False)
        idx, dl = [], []
        for _ in range(args.reps):
            idx.append(train(p, d, args.steps, False))
            dl.append(train(p, d, args.steps, True))
        a, b = statistics.median(idx), statistics.median(dl)
        print(f"{name:<18} {a:>14,.0f} {b:>19,.0f} {a / b:>6.2f}")


if __name__ == "__main__":
    main()
