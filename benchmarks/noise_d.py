"""Cost of the noise strength D (core/measure/noise.py): hooked per-sample norms vs a loop vs torch.func vmap.

For fc (784-512-512-512-10) on 1x28x28 inputs and smallnet on 3x32x32 inputs,
with a probe set of M = 1000 random float32 samples on the CPU, times (median of
several repetitions, after one warm-up call):

- fast:  per_sample_sq_norms on all M samples (one forward + one backward pass);
- D:     noise_strength on all M samples in its default chunks (everything D needs);
- loop:  per_sample_sq_norms_loop (one backward pass per sample);
- vmap:  per_sample_sq_norms_vmap (torch.func, all M x N per-sample gradients);
- grad:  one full-batch gradient of the mean loss over the M samples.

loop is timed on the first `--subset` samples and scaled linearly to M (its
cost per sample does not depend on M); vmap too when all of M would need more
than 1 GiB for the M x N per-sample gradients (3.7 GB for fc), else on all of M.

    .venv/bin/python benchmarks/noise_d.py [--threads 2] [--M 1000] [--subset 100] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch  # noqa: E402

from glasslab.core.config.presets import ModelConfig  # noqa: E402
from glasslab.core.measure import noise  # noqa: E402
from glasslab.core.system.models import build, mean_loss  # noqa: E402


def median_time(fn, reps: int, clock) -> float:
    fn()  # warm-up: allocator, kernels, torch.func tracing caches
    times = []
    for _ in range(reps):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times)


def bench(name, cfg, shape, M, subset, reps, clock):
    torch.manual_seed(0)
    model = build(cfg, shape, 10)
    n_params = sum(p.numel() for p in model.parameters())
    x = torch.randn(M, *shape)
    y = torch.randint(0, 10, (M,))
    xs, ys = x[:subset], y[:subset]
    params = list(model.parameters())
    slow_reps = max(1, (reps + 1) // 2)

    def full_grad():
        torch.autograd.grad(mean_loss(model, model(x), y), params)

    t = {
        "grad": median_time(full_grad, reps, clock),
        "fast": median_time(lambda: noise.per_sample_sq_norms(model, x, y), reps, clock),
        "D": median_time(lambda: noise.noise_strength(model, x, y), reps, clock),
        "loop": median_time(lambda: noise.per_sample_sq_norms_loop(model, xs, ys), slow_reps, clock) * M / subset,
    }
    # vmap writes all n x N per-sample gradients: on all of M when that fits in 1 GiB (its cost
    # per sample grows with n, so scaling from a subset flatters it), else on the subset
    n_vmap = M if M * n_params * 4 <= 2 ** 30 else subset
    t["vmap"] = median_time(lambda: noise.per_sample_sq_norms_vmap(model, x[:n_vmap], y[:n_vmap]),
                            slow_reps, clock) * M / n_vmap
    t["vmap_n"] = n_vmap
    fast, loop = noise.per_sample_sq_norms(model, xs, ys), noise.per_sample_sq_norms_loop(model, xs, ys)
    t["rel_err"] = ((fast - loop).abs() / loop).max().item()
    return name, n_params, t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--M", type=int, default=1000)
    ap.add_argument("--subset", type=int, default=100, help="samples on which the loop (and vmap, for large N) is timed")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: time.perf_counter; cpu: time.process_time, this process's CPU seconds over "
                         "all its threads (steadier when other jobs share the cores)")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(args.threads)
    M, sub = args.M, min(args.subset, args.M)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, float32, probe set M = {M}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"clock: {args.clock} ({'seconds' if args.clock == 'wall' else 'CPU seconds, all threads'}); "
          f"median of {args.reps} (fast, D, grad) / {max(1, (args.reps + 1) // 2)} (loop, vmap) repetitions after a warm-up; "
          f"loop timed on {sub} samples and scaled x{M / sub:g} to M")
    rows = [
        bench("fc 784-512x3-10", ModelConfig(kind="fc", width=512, depth=3), (1, 28, 28), M, sub, args.reps, clock),
        bench("smallnet 3x32x32", ModelConfig(kind="smallnet"), (3, 32, 32), M, sub, args.reps, clock),
    ]
    head = (f"{'model':<18}{'N':>9}{'grad [s]':>10}{'fast [s]':>10}{'D [s]':>9}{'loop* [s]':>11}"
            f"{'vmap [s]':>10}{'vmap on':>9}{'loop/fast':>11}{'vmap/fast':>11}{'fast/grad':>11}{'max rel err':>13}")
    print()
    print(head)
    print("-" * len(head))
    for name, n, t in rows:
        print(f"{name:<18}{n:>9,}{t['grad']:>10.3f}{t['fast']:>10.3f}{t['D']:>9.3f}{t['loop']:>11.2f}"
              f"{t['vmap']:>10.2f}{t['vmap_n']:>9}{t['loop'] / t['fast']:>10.1f}x{t['vmap'] / t['fast']:>10.1f}x"
              f"{t['fast'] / t['grad']:>10.2f}x{t['rel_err']:>13.1e}")
    print()
    print("grad: one full-batch gradient over M      fast: per_sample_sq_norms over M")
    print("D: noise_strength over M (chunks of 256)   *loop: timed on the subset, scaled to M")
    print("vmap: timed on `vmap on` samples, scaled to M")
    print("loop/fast: speed-up of the hooked norms over per-sample backward passes (target >= 20x)")
    print("fast/grad: cost of the hooked norms relative to one full-batch gradient")
    print("max rel err: fast vs loop on the subset, float32")


if __name__ == "__main__":
    main()
