"""glasslab's cost over a bare PyTorch loop on the same model, data and steps.

glasslab: the real Run with the Zarr writer (snapshots on the log grid with
full train/test evaluation, the running loss, divergence checks).
Bare: the same network and data on the device, torch.optim.SGD, minibatches by
index from a randperm, nothing recorded.  Runs alternate (bare, glasslab, bare,
...) so machine noise hits both; the figure is the median of the per-pair
wall-time ratios.  Target on 2 CPU cores: core/bare <= 1.10 (issue 2).
A third variant adds the online observables (issue 3): "recording" is the
share of the full run's time spent on them, (full - core) / full.

    .venv/bin/python benchmarks/overhead.py [--presets quickstart fmnist-toy-over] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from glasslab.core.config import presets
from glasslab.core.store.writer import TrajectoryWriter  # noqa: E402
from glasslab.core.system import data as datasets  # noqa: E402
from glasslab.core.system import models  # noqa: E402
from glasslab.core.train.run import Run, drive  # noqa: E402


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


def glasslab(p: presets.Preset, d: datasets.DataSet, tmp: Path, k: int, observables: bool = True) -> tuple[float, int]:
    if not observables:  # snapshots and evaluations only: no online Delta, no D
        p = presets.with_overrides(p, {"recording.waiting_times": 0, "recording.d_every": 0})
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
    print("bare: plain PyTorch loop; core: glasslab with snapshots + evaluations + store (no online observables);")
    print("full: glasslab with everything (online Delta for the waiting times, D and D_B at every snapshot)")
    print(f"{'preset':<18} {'steps':>7} {'snaps':>5} {'bare s':>7} {'core s':>7} {'full s':>7} "
          f"{'core/bare':>9} {'full/bare':>9} {'recording':>9}  (medians of {args.reps})")
    for name in args.presets:
        over = ["run.device=cpu"] + ([f"run.steps={args.steps}"] if args.steps else [])
        p = presets.load(name, over)
        d = datasets.load(p.data, "cpu")
        bare(presets.with_overrides(p, {"run.steps": 200}), d)  # warm-up
        core_r, full_r, rec, tb, tc, tf = [], [], [], [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(args.reps):
                b = bare(p, d)
                c, snaps = glasslab(p, d, Path(tmp), 2 * k, observables=False)
                f, _ = glasslab(p, d, Path(tmp), 2 * k + 1)
                tb.append(b); tc.append(c); tf.append(f)
                core_r.append(c / b); full_r.append(f / b); rec.append((f - c) / f)
        med = statistics.median
        print(f"{name:<18} {p.run.steps:>7} {snaps:>5} {med(tb):>7.2f} {med(tc):>7.2f} {med(tf):>7.2f} "
              f"{med(core_r):>9.3f} {med(full_r):>9.3f} {med(rec):>8.1%}   core/bare runs: {', '.join(f'{r:.3f}' for r in core_r)}")


if __name__ == "__main__":
    main()
