"""glasslab's cost over a bare PyTorch loop on the same model, data and steps.

glasslab: the real Run with the Zarr writer (snapshots on the log grid with
full train/test evaluation, the running loss, divergence checks).
Bare: the same network and data on the device, torch.optim.SGD, minibatches by
index from a randperm, nothing recorded.  Runs alternate (bare, glasslab, bare,
...) so machine noise hits both; the figure is the median of the per-pair
wall-time ratios.  Target on 2 CPU cores: <= 1.10.

    .venv/bin/python benchmarks/overhead.py [--presets quickstart fmnist-toy-over] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import data as datasets  # noqa: E402
from core import models, presets  # noqa: E402
from core.run import Run, drive  # noqa: E402
from core.writer import TrajectoryWriter  # noqa: E402


def bare(p: presets.Preset, d: datasets.DataSet) -> float:
    torch.manual_seed(p.run.seed)
    model = models.build(p.model, d.input_shape, d.classes)
    dyn = p.dynamics
    opt = torch.optim.SGD(model.parameters(), lr=dyn.lr, momentum=dyn.momentum, weight_decay=dyn.weight_decay)
    gen = torch.Generator().manual_seed(1)
    P, B = d.train_size, dyn.batch_size
    perm, pos = torch.randperm(P, generator=gen), 0
    t0 = time.perf_counter()
    for _ in range(p.run.steps):
        if pos + B > P:
            perm, pos = torch.randperm(P, generator=gen), 0
        idx = perm[pos:pos + B]
        pos += B
        opt.zero_grad(set_to_none=False)
        models.mean_loss(model, model(d.x_train[idx]), d.y_train[idx]).backward()
        opt.step()
    return time.perf_counter() - t0


def glasslab(p: presets.Preset, d: datasets.DataSet, tmp: Path, k: int) -> tuple[float, int]:
    run = Run(p, data=d)
    t0 = time.perf_counter()
    drive(run, [TrajectoryWriter(tmp / f"run{k}.zarr")])
    return time.perf_counter() - t0, run.next_snapshot


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["quickstart", "fmnist-toy-over"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="override run.steps (default: the preset's)")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    print(f"{'preset':<18} {'steps':>7} {'snaps':>5} {'bare s':>8} {'glasslab s':>10} {'ratio':>6}  (median of {args.reps} pairs)")
    for name in args.presets:
        over = ["run.device=cpu"] + ([f"run.steps={args.steps}"] if args.steps else [])
        p = presets.load(name, over)
        d = datasets.load(p.data, "cpu")
        bare(presets.with_overrides(p, {"run.steps": 200}), d)  # warm-up
        ratios, tb, tg = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(args.reps):
                b = bare(p, d)
                g, snaps = glasslab(p, d, Path(tmp), k)
                tb.append(b); tg.append(g); ratios.append(g / b)
        print(f"{name:<18} {p.run.steps:>7} {snaps:>5} {statistics.median(tb):>8.2f} {statistics.median(tg):>10.2f} "
              f"{statistics.median(ratios):>6.3f}   pairs: {', '.join(f'{r:.3f}' for r in ratios)}")


if __name__ == "__main__":
    main()
