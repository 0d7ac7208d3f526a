"""Measured training step rate of presets, and the time their full length would take here.

For each preset: build the real model and dynamics on the chosen device, run
`--warmup` steps, then time `--steps` steps of `Trainer.step()` (the update the
run performs, no recording), synchronising the device before reading the clock.
Prints steps/s and the preset's run.steps divided by it: the training time of
the whole run on this machine, recording excluded (snapshots, evaluations, D and
the store add the shares of BENCHMARKS.md).

When the preset's data set is not on this machine (CIFAR cannot be downloaded
here), a synthetic stand-in of the same input shape and class count is used:
an SGD step's cost depends on the shapes and the batch size, not on the pixel
values or on the size of the training set.  The line says so.

    .venv/bin/python benchmarks/step_rate.py [--device auto] [--steps 30] [PRESET ...]

On a GPU server this is the measurement REPRODUCTION.md asks for ("Full-scale
[BJ18] presets"): run it there with --device cuda, or --device cuda:N for the N-th card of a
shared server (benchmarks/gpu_check.py checks that cuda:N trains there and is shown so).
"""

from __future__ import annotations

import argparse
import time

import torch

from glasslab.core.config import presets  # noqa: E402
from glasslab.core.system import data as datasets  # noqa: E402
from glasslab.core.train.run import Run  # noqa: E402

FULL_SCALE = ["bj18-toy-cifar10", "bj18-fc-mnist", "bj18-smallnet-cifar10", "bj18-resnet18-cifar100"]


def stand_in(p: presets.Preset) -> tuple[presets.Preset, str]:
    """The preset itself when its data set is here, else synthetic data of the same shape."""
    ok, _ = datasets.availability(p.data)
    if ok:
        return p, p.data.name
    shape, classes = datasets.info(p.data)
    size = max(p.dynamics.batch_size, 2000)
    q = presets.with_overrides(p, {"data.name": "synthetic", "data.shape": list(shape), "data.classes": classes,
                                   "data.train_size": size, "data.test_size": 100})
    return q, f"synthetic stand-in {tuple(shape)}x{classes} ({p.data.name} not here)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def rate(p: presets.Preset, warmup: int, steps: int) -> tuple[float, Run]:
    run = Run(p)
    for _ in range(warmup):
        run.trainer.step()
    sync(run.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        run.trainer.step()
    sync(run.device)
    return steps / (time.perf_counter() - t0), run


def human(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("presets", nargs="*", default=FULL_SCALE)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if torch.cuda.is_available():
        print("GPUs: " + ", ".join(f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())))
    print(f"{'preset':<24} {'device':<7} {'N':>12} {'B':>5} {'steps/s':>9} {'run.steps':>10} {'training time':>14}  data")
    for name in args.presets:
        p, where = stand_in(presets.load(name, [f"run.device={args.device}"]))
        r, run = rate(p, args.warmup, args.steps)
        total = p.run.steps / r
        print(f"{name:<24} {str(run.device):<7} {run.n_params:>12,} {p.dynamics.batch_size:>5} {r:>9.2f} "
              f"{p.run.steps:>10,} {human(total):>14}  {where}", flush=True)
        del run
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
