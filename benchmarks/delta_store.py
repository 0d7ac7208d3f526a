"""Cost of the two-time matrices (core/measure/observables.py) streamed from a zarr v3 store.

Writes K snapshots of N float32 parameters (a random walk from w ~ N(0, 0.05^2)
with steps N(0, (3e-4)^2): Delta(0, 1) = 9e-8 and, with eps = 0.05/100,
Q(0, 1) = P(|z| < 1.67) = 0.905; chunks (1, min(N, 2^20)), no compression: the
inner chunks of core/store/layout.py's weights),
then, each in a fresh child process so that its peak memory is its own:

- all:  two_time_from_weights, all four matrices (a std pass + a pair pass);
- msd:  two_time_from_weights(msd_only=True) (the pair pass without counts and d^4).

Printed per mode: wall time, time spent inside store reads, bytes returned by the
reads and the read bandwidth (bytes / read time, and bytes / wall time), the
resident-memory rise over the child's baseline after imports (VmHWM - VmRSS from
/proc: no tracemalloc, which would slow zarr down), and the CPU time (user + sys)
over the wall time (about the number of busy cores).  The store is read from the
page cache when it fits in RAM; read figures are then memory-copy rates.

    .venv/bin/python benchmarks/delta_store.py [--K 100] [--N 2000000] [--threads 2]
    .venv/bin/python benchmarks/delta_store.py --big      # K = 200, N = 11,000,000 (8.8 GB on disk)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np  # noqa: E402
import zarr  # noqa: E402


def write_store(path: str, k: int, n: int, seed: int = 0) -> float:
    """A [k, n] float32 random walk, steps N(0, (3e-4)^2) per coordinate; returns seconds."""
    t = time.perf_counter()
    chunk = min(n, 2**20)
    arr = zarr.create_array(store=path, shape=(k, n), chunks=(1, chunk), dtype="float32",
                            compressors=None, fill_value=float("nan"), zarr_format=3)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n, dtype=np.float32) * np.float32(0.05)
    for i in range(k):
        arr[i] = w
        w += rng.standard_normal(n, dtype=np.float32) * np.float32(3e-4)
    return time.perf_counter() - t


class CountingArray:
    """A read-only view of a zarr array that counts the bytes and time of each read."""

    def __init__(self, arr):
        self.arr, self.shape, self.chunks, self.dtype = arr, arr.shape, arr.chunks, arr.dtype
        self.bytes, self.seconds, self.reads = 0, 0.0, 0

    def __getitem__(self, key):
        t = time.perf_counter()
        out = self.arr[key]
        self.seconds += time.perf_counter() - t
        self.bytes += out.nbytes
        self.reads += 1
        return out


def _mem_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def child(path: str, mode: str, threads: int, budget_mb: int) -> dict:
    from glasslab.core.measure.observables import two_time_from_weights

    arr = CountingArray(zarr.open_array(path, mode="r"))
    base = _mem_kib("VmRSS")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    res = two_time_from_weights(arr, threads=threads, budget_bytes=budget_mb << 20, msd_only=(mode == "msd"))
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    iu = np.triu_indices(arr.shape[0], 1)
    return dict(mode=mode, wall_s=wall, cpu_s=cpu, read_s=arr.seconds, read_bytes=arr.bytes, reads=arr.reads,
                rss_rise_mib=(_mem_kib("VmHWM") - base) / 1024, base_rss_mib=base / 1024,
                msd_01=float(res.msd[0, 1]), msd_finite=bool(np.isfinite(res.msd[iu]).all()),
                q_01=None if res.overlap is None else float(res.overlap[0, 1]))


def report(r: dict, k: int, n: int) -> None:
    gb = r["read_bytes"] / 1e9
    pairs = k * (k - 1) // 2 * n
    print(f"  {r['mode']:>3}: wall {r['wall_s']:7.1f} s (cpu/wall {r['cpu_s'] / r['wall_s']:.2f}) | reads {r['reads']} calls, {gb:.2f} GB in {r['read_s']:.1f} s "
          f"= {gb / max(r['read_s'], 1e-9):.2f} GB/s ({gb / r['wall_s']:.2f} GB/s of wall) | "
          f"{r['wall_s'] / pairs * 1e9:.2f} ns wall, {r['cpu_s'] / pairs * 1e9:.2f} ns cpu per pair-element | "
          f"peak RSS rise {r['rss_rise_mib']:.0f} MiB over {r['base_rss_mib']:.0f} MiB after imports | "
          f"Delta(0,1) = {r['msd_01']:.4e}" + ("" if r["q_01"] is None else f", Q(0,1) = {r['q_01']:.4f}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--K", type=int, default=100)
    ap.add_argument("--N", type=int, default=2_000_000)
    ap.add_argument("--big", action="store_true", help="K = 200, N = 11,000,000")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--budget-mb", type=int, default=512)
    ap.add_argument("--modes", default="all,msd")
    ap.add_argument("--dir", default=None, help="where to put the store (default: a temporary directory)")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    threads = a.threads or len(os.sched_getaffinity(0))
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], threads, a.budget_mb)))
        return
    k, n = (200, 11_000_000) if a.big else (a.K, a.N)
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        path = os.path.join(tmp, "weights.zarr")
        secs = write_store(path, k, n)
        print(f"store: K = {k}, N = {n:,}, chunks (1, {min(n, 2**20)}), {k * n * 4 / 1e9:.2f} GB float32, "
              f"written in {secs:.1f} s; threads = {threads}, budget = {a.budget_mb} MiB; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for mode in a.modes.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", path, mode, "--threads", str(threads),
                                  "--budget-mb", str(a.budget_mb)], capture_output=True, text=True, check=True)
            report(json.loads(out.stdout.strip().splitlines()[-1]), k, n)


if __name__ == "__main__":
    main()
