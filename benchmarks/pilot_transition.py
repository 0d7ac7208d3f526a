"""Pilot for issue 15 (the over/under-parametrised transition): step rates and how long runs need.

    OMP_NUM_THREADS=1 python benchmarks/pilot_transition.py jamming  --width 8 --steps 4000 --budget 60
    OMP_NUM_THREADS=1 python benchmarks/pilot_transition.py aging    --width 512 --steps 20000 --budget 60

Runs one preset (presets/transition-*.toml) in process, no store, for at most
`--budget` seconds of CPU time (stopped at the next step boundary), and prints
one line per snapshot: step, train loss, N_Delta (jamming only), and the mean
step rate including the recording (snapshots, evaluation, D), per second of
this process's CPU time: on a shared machine that is what one quiet core would
do (wall-clock rates there are lower by the load).  One training process at a
time: the machine is shared.
"""

from __future__ import annotations

import argparse
import time

from glasslab.core.config import presets
from glasslab.core.records import SnapshotTaken, StepLogged, is_end
from glasslab.core.train.run import Run

PRESETS = {"jamming": "presets/transition-jamming.toml", "aging": "presets/transition-aging.toml"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=PRESETS)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--budget", type=float, default=60.0, help="CPU seconds before the run is stopped")
    ap.add_argument("--set", action="append", default=[], help="extra section.key=value overrides")
    a = ap.parse_args()
    p = presets.load(PRESETS[a.part], [f"model.width={a.width}", f"run.steps={a.steps}", *a.set])
    run = Run(p)
    P = run.data.train_size
    print(f"{a.part} width {a.width}: N = {run.n_params:,}, P = {P}, N/P = {run.n_params / P:.3g}", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for r in run:
        if isinstance(r, StepLogged) and time.process_time() - c0 > a.budget:
            run.stop("pilot budget")
        if isinstance(r, SnapshotTaken):
            ev = r.evaluation
            rate = r.step / max(time.process_time() - c0, 1e-9)
            nd = "" if ev.n_delta != ev.n_delta else f"  N_Delta/P {ev.n_delta / P:.4f}"
            print(f"  step {r.step:>7}  loss {ev.train_loss:.5g}  acc {ev.train_acc:.3f}{nd}  "
                  f"({rate:,.0f} steps per CPU s incl. recording)", flush=True)
        if is_end(r):
            cpu = time.process_time() - c0
            print(f"  end: {type(r).__name__} at step {r.step}: {cpu:.1f} CPU s, {r.wall_s:.1f} wall s, "
                  f"{r.step / max(cpu, 1e-9):,.0f} steps per CPU s", flush=True)


if __name__ == "__main__":
    main()
