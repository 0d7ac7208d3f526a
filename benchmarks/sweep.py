"""What the sweep machinery costs per point, and how well K = 2 local points share 2 cores.

Overhead: a sweep of M short points one at a time (K = 1), on the local
executor and (as root, with slurm-wlm and munge installed) on a one-node Slurm
cluster started here (tests/support/slurm_cluster.py).  Per point: (sweep wall time - the
points' own in-run training time) / M, which holds submission, the job's Python
start-up and imports, loading data, manifest updates, completing the two-time
matrices and the per-point analysis; set against the point's training time.

Throughput: the same M CPU-bound points (1 thread each) with K = 1 and with
K = 2, both through the local executor: ratio = T(K=1) / (2 T(K=2)); 1 is the
ideal (two cores, twice the rate), the target is >= 0.9.

    .venv/bin/python benchmarks/sweep.py [--points 4] [--steps 200] [--cpu-steps 6000] [--no-slurm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the one-node cluster of the Slurm tests

PRESET = """description = "sweep benchmark point: a toy model on a synthetic task"
[model]
kind = "toy"
width = {width}
[data]
name = "synthetic"
shape = [32]
classes = 10
train_size = 1000
test_size = 500
[dynamics]
kind = "sgd"
lr = 0.5
batch_size = 50
momentum = 0.5
[recording]
snapshots = 30
first = 5
[run]
steps = {steps}
device = "cpu"
"""


def sweep(tmp: Path, name: str, steps: int, width: int, points: int, *extra: str) -> tuple[float, list[float]]:
    """Run a sweep over run.seed=0:points through the CLI; (wall s, each point's in-run training s)."""
    preset = tmp / f"{name}.toml"
    preset.write_text(PRESET.format(steps=steps, width=width))
    out = tmp / name
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "glasslab.tui.cli", "sweep", str(preset), "--grid", f"run.seed=0:{points}",
                    "--threads", "1", "--out", str(out), *extra], check=True, env=env, stdout=subprocess.DEVNULL)
    if "slurm" in extra:
        m = out / "sweep.json"
        while [p["state"] for p in json.loads(m.read_text())["points"]] != ["finished"] * points:
            time.sleep(0.2)  # polling Slurm's progress through the manifest
    wall = time.perf_counter() - t0
    import zarr

    train = [float(zarr.open_group(str(p), mode="r").attrs["wall_s"]) for p in sorted((out / "points").iterdir())]
    return wall, train


def overhead_row(kind: str, wall: float, train: list[float]) -> str:
    per = (wall - sum(train)) / len(train)
    mean_train = sum(train) / len(train)
    return f"| {kind} | {len(train)} | {wall:.1f} s | {mean_train:.2f} s | **{per:.2f} s** | {per / mean_train:.1f}x |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200, help="steps of the overhead points (short on purpose)")
    ap.add_argument("--cpu-steps", type=int, default=6000, help="steps of the CPU-bound throughput points")
    ap.add_argument("--no-slurm", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f} on {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        wall, train = sweep(tmp, "local-k1", args.steps, 16, args.points, "--parallel", "1")
        rows.append(overhead_row("local executor, K = 1", wall, train))
        if not args.no_slurm:
            from slurm_cluster import missing_reason, one_node_cluster

            reason = missing_reason()
            if reason:
                print(f"Slurm skipped: {reason}")
            else:
                (tmp / "slurm").mkdir()
                with one_node_cluster(tmp / "slurm"):
                    wall, train = sweep(tmp, "slurm-k1", args.steps, 16, args.points, "--executor", "slurm",
                                        "--parallel", "1", "--time", "30")
                rows.append(overhead_row("one-node Slurm, array %1", wall, train))
        print("\n| executor | points | sweep wall | training per point | **overhead per point** | overhead / training |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        print("\n".join(rows))

        t1, train1 = sweep(tmp, "cpu-k1", args.cpu_steps, 256, args.points, "--parallel", "1")
        t2, train2 = sweep(tmp, "cpu-k2", args.cpu_steps, 256, args.points, "--parallel", "2")
        print("\n| K | points | sweep wall | training per point | points per minute |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for k, t, tr in ((1, t1, train1), (2, t2, train2)):
            print(f"| {k} | {len(tr)} | {t:.1f} s | {sum(tr) / len(tr):.2f} s | {60 * len(tr) / t:.2f} |")
        print(f"\nthroughput ratio T(K=1) / (2 T(K=2)) = **{t1 / (2 * t2):.3f}** (ideal 1, target >= 0.9)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
