"""Stress: SIGKILL a headless run at N random moments, resume each, compare bitwise.

    .venv/bin/python tests/stress/kill_resume.py [--kills 20] [--seed 0]

Each kill point: start `glasslab run` on the crash preset of tests/test_resume.py,
wait a random time (uniform over the training's length) after the first snapshot appears, SIGKILL, `glasslab resume`,
and compare every snapshot's weights (and the loss log) bitwise with an
uninterrupted run.  Prints one summary line for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the stress script reuses the resume tests' helpers

from glasslab.core import trajectory  # noqa: E402
from test_resume import PRESET, _store, _wait_for_snapshots, cli, finish  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preset = tmp / "crash.toml"
        preset.write_text(PRESET)
        code, _, err = finish("run", preset, "--no-ui", "--out", tmp / "ref")
        assert code == 0, err
        ref = trajectory.Trajectory.open(_store(tmp / "ref"))
        ref_w = np.asarray(ref.weights[: ref.n_snapshots])
        ref_loss = ref.loss()
        span = 0.9 * float(ref.attrs["wall_s"])  # the training's length, from its first snapshot on
        ok, points, late = 0, [], 0
        t0 = time.time()
        k, attempt = 0, 0
        while k < args.kills:
            attempt += 1
            out = tmp / f"a{attempt}"
            proc = cli("run", preset, "--no-ui", "--out", out)
            path = _wait_for_snapshots(out, 1, proc)
            time.sleep(rng.uniform(0.0, span))  # anywhere in the run, snapshot writes included
            if proc.poll() is not None:  # finished before the kill: not a kill point, try again
                continue
            proc.kill()
            proc.wait()
            killed_at = trajectory.Trajectory.open(path)
            points.append(int(killed_at.steps[-1]) if killed_at.n_snapshots else 0)
            if killed_at.status == "finished":
                # Killed after training, while completing the two-time matrices: nothing to resume
                # (glasslab resume refuses it); glasslab analyze must finish the matrices instead.
                code, _, err = finish("analyze", path, "--json")
                late += 1
            else:
                code, _, err = finish("resume", path)
            t = trajectory.Trajectory.open(path)
            same = (code == 0 and t.status == "finished"
                    and np.array_equal(np.asarray(t.weights[: t.n_snapshots]).view(np.uint32), ref_w.view(np.uint32))
                    and all(np.array_equal(a, b) for a, b in zip(t.loss(), ref_loss))
                    and int(t.attrs.get("two_time_complete", 0)) == t.n_snapshots)
            ok += same
            k += 1
            print(f"kill {k:2d}: last committed snapshot at step {points[-1]:5d}: "
                  f"{'bitwise identical' if same else 'DIFFERENT: ' + err.strip()[-200:]}", flush=True)
    print(f"kill/resume stress: {ok}/{args.kills} resumed runs bitwise identical to the uninterrupted run "
          f"(SIGKILL after steps {min(points)}..{max(points)}; {late} of the kills hit the two-time completion "
          f"after training and glasslab analyze completed those stores; {time.time() - t0:.0f} s)")
    sys.exit(0 if ok == args.kills else 1)


if __name__ == "__main__":
    main()
