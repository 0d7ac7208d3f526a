"""The reduced test's quantities on seeds the test does not use (1-5): its thresholds come from these.

    OMP_NUM_THREADS=1 .venv/bin/python docs/reduced_test_seeds.py [OUT_DIR]     # ~10 runs of 8,000 steps, a few minutes

tests/analysis/test_reproduction.py trains seed 0 and asserts only what holds, with a margin,
on every seed here (REPRODUCTION.md, "Reduced test").
"""
import json
import sys
from pathlib import Path
from glasslab.core.analysis import report
from glasslab.core.config import presets
from glasslab.core.store import completion
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/reduced-seeds")
OUT.mkdir(parents=True, exist_ok=True)
out = {}
for seed in range(1, 6):
    for width in (128, 2):
        p = presets.with_overrides(presets.load("transition-aging"), {
            "model.width": width, "run.steps": 8000, "run.seed": seed, "run.device": "cpu", "run.threads": 1,
            "data.test_size": 200, "recording.snapshots": 50})
        path = OUT / f"s{seed}-w{width}.zarr"
        if not path.exists():
            drive(Run(p), [TrajectoryWriter(path)])
            completion.complete_two_time(path)
        r = report.analyze_store(path, n_boot=50)
        a = r["analysis"]
        ls = a["aging"]["late_scaled"]
        row = {"loss": r["final"]["train_loss"], "collapse": a["diffusion_collapse"]["ratio"],
               "mu_late_DD": ls.get("mu"), "mu_late_DD_err": ls.get("mu_err"), "verdict": a["verdict"]["label"] if isinstance(a.get("verdict"), dict) else a.get("verdict")}
        out[f"{seed}-{width}"] = row
        print(seed, width, json.dumps(row), flush=True)
json.dump(out, open(OUT / "seeds.json", "w"), indent=1)
