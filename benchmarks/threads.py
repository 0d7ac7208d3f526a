"""Threads on a shared machine: the default ("auto") against fixed thread counts.

The quickstart headless (`glasslab run quickstart --no-ui --steps S`), whole
command wall time, on an idle machine and with one busy-looping process beside
it (another user's job).  Variants run alternately within each round, so
machine noise hits all of them; the figure is the median over rounds.
Targets (issue 11): busy, auto / 1 thread <= 1.2; idle, auto / best fixed count <= 1.05.

    .venv/bin/python benchmarks/threads.py [--steps 4000] [--rounds 3] [--counts 1 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def busy_loop(on: bool):
    """One process spinning on a core, as another user's CPU-bound job would."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        if proc:
            time.sleep(1.0)  # let it get scheduled before the timed run starts
        yield
    finally:
        if proc:
            proc.kill()
            proc.wait()


def timed_run(threads: str, steps: int, out: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "GLASSLAB_THREADS")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "glasslab.tui.cli", "run", "quickstart", "--no-ui", "--steps", str(steps),
                    "--threads", threads, "--out", str(out)], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    variants = ["auto", *map(str, args.counts)]
    print(f"cpus {os.cpu_count()}, affinity {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        for busy in (False, True):
            times: dict[str, list[float]] = {v: [] for v in variants}
            with busy_loop(busy):
                for r in range(args.rounds):
                    for v in variants:
                        times[v].append(timed_run(v, args.steps, Path(tmp) / f"{busy}-{v}-{r}"))
            med = {v: statistics.median(t) for v, t in times.items()}
            label = "busy (one spinning process beside)" if busy else "idle"
            print(f"\n{label}: quickstart --steps {args.steps}, median of {args.rounds} rounds")
            for v in variants:
                print(f"  threads {v:>4}: {med[v]:7.2f} s   ({', '.join(f'{t:.2f}' for t in times[v])})")
            if busy:
                print(f"  auto / 1 thread          = {med['auto'] / med['1']:.3f}   (target <= 1.2)")
            else:
                best = min(med[v] for v in variants if v != "auto")
                print(f"  auto / best fixed count  = {med['auto'] / best:.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
