"""Stress: stop, preempt or kill runs at random steps, resume each, compare bitwise.

    OMP_NUM_THREADS=1 .venv/bin/python tests/stress/kill_resume.py [--cases 30] [--seed 0]

Each case draws a signal (SIGKILL, SIGTERM or SIGINT), a step, and whether the
run switches to Langevin mid-run (at step SWITCH_AT, as a user would in the
console).  It starts the run headless, sends the signal once the run has
logged that step, resumes it in the same store, and compares the store with the
uninterrupted run of the same kind: weights (bitwise), snapshot steps, evals,
observables, the loss log, the trajectory's events and the final status.  The
resume is the CLI's `glasslab resume`, except where the run was stopped before
the switch: then the user switches again after the resume (the child driver,
which trains through the same code as `glasslab run --no-ui`).  Every training
is a process of its own, forked from this one with torch already imported, so
that 30 cases take minutes rather than 30 interpreter start-ups each way (zarr
resets its IO loop in a forked child; torch runs one thread).

It also measures the steps a stop loses (the saved state's step against the
step where the run stopped: must be 0) and the steps and seconds a SIGKILL loses
(against the last step the run logged, and the wall-clock checkpoint cadence).
Prints one summary line for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the stress script reuses the resume tests' helpers

from glasslab.core.config import presets
from glasslab.core.runs import catalog  # noqa: E402
from glasslab.core.store import reader

from support.resume import PRESET as RESUME_PRESET  # noqa: E402
from support.resume import SWITCH, differences  # noqa: E402

CADENCE_MIN = 0.001  # a checkpoint every 0.06 s of wall time (a run lasts about a second), so that kills land between them
STEPS, LOG_EVERY, SWITCH_AT = 2500, 10, 800
# The resume tests' toy run, longer, with online waiting times and the fast checkpoint cadence.
PRESET = catalog.to_toml(presets.with_overrides(presets.from_dict(tomllib.loads(RESUME_PRESET), name="stress"), {
    "recording.snapshots": 25, "recording.log_every": LOG_EVERY, "recording.waiting_times": 4,
    "recording.checkpoint_minutes": CADENCE_MIN, "run.steps": STEPS, "run.seed": 5,
    "run.threads": 1,  # "auto" follows the machine's load, and a 1- and a 2-thread run differ in the last bit
}))


# ----------------------------------------------------------------- the child (one training process)

def child(argv: list[str]) -> None:
    """--child run PRESET STORE [--switch] | --child resume STORE [--switch]: train like
    `glasslab run --no-ui` / `glasslab resume`, print "@step N" for every logged step, and with
    --switch switch to Langevin at SWITCH_AT unless the run has that switch already."""
    from glasslab.core.config import presets
    from glasslab.core.records import StepLogged
    from glasslab.core.runs import resume
    from glasslab.core.train.run import Run
    from glasslab.tui.cli.run import train_headless

    mode, *rest = argv
    switch = "--switch" in rest
    rest = [a for a in rest if a != "--switch"]
    if mode == "run":
        run, path, lock = Run(presets.load(rest[0])), Path(rest[1]), None
    else:
        path = Path(rest[0])
        run, lock = resume.prepare(path)

    class Steer:
        def handle(self, r):
            if isinstance(r, StepLogged):
                if switch and r.step == SWITCH_AT and run.n_switches == 0 and not run.replay:
                    run.switch_dynamics(**SWITCH)
                print(f"@step {r.step}", file=sys.stderr, flush=True)

    try:
        train_headless(run, path, lock=lock, extra_sinks=[Steer()])
    except SystemExit:
        raise
    except Exception as err:  # typer.Exit (click's Exit) carries the code
        sys.exit(getattr(err, "exit_code", 1))


class Forked:
    """A child process running fn(*args) with its stderr on a pipe (stdout discarded)."""

    def __init__(self, fn, *args):
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(r)
            os.dup2(w, 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            code = 1
            try:
                fn(*args)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
            except BaseException:  # noqa: BLE001 - reported on the pipe
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(w)
        self.stderr = os.fdopen(r)
        self.returncode = None

    def send_signal(self, sig) -> None:
        os.kill(self.pid, sig)

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            self.stderr.close()
        return self.returncode


def spawn(*args) -> Forked:
    return Forked(child, [str(a) for a in args])


def glasslab_cli(*args) -> tuple[int, str]:
    from glasslab.tui.cli import app

    p = Forked(app, [str(a) for a in args])
    err = p.stderr.read()
    return p.wait(), err


def run_until(proc: subprocess.Popen, step: int, sig: int) -> tuple[int, float, str]:
    """Read the child's logged steps; send `sig` once it has logged `step`.  Returns the last
    step it logged, the time of the signal, and what else it printed on stderr."""
    last, sent, other = 0, None, []
    for line in proc.stderr:  # (run_until also drains a child that ends by itself)
        if line.startswith("@step "):
            last = int(line.split()[1])
            if sent is None and last >= step:
                proc.send_signal(sig)
                sent = time.time()
                if sig == signal.SIGKILL:
                    break
        else:
            other.append(line)
    if sig == signal.SIGKILL and sent is not None:
        proc.stderr.close()
    proc.wait()
    return last, sent, "".join(other)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import glasslab.tui.cli  # noqa: F401 - preloaded (with torch) for every forked child
    import glasslab.tui.printer  # noqa: F401

    rng = random.Random(args.seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preset = tmp / "stress.toml"
        preset.write_text(PRESET)
        refs = {}
        for switched in (False, True):  # the uninterrupted runs
            refs[switched] = tmp / f"ref-{switched}.zarr"
            p = spawn("run", preset, refs[switched], *(["--switch"] if switched else []))
            _, _, err = run_until(p, STEPS + 1, signal.SIGKILL)
            assert p.returncode == 0 and reader.Trajectory.open(refs[switched]).status == "finished", err
        ok, stop_lost, kill_lost_steps, kill_lost_s, tally = 0, [], [], [], {}
        for k in range(1, args.cases + 1):
            sig = rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
            switched = rng.random() < 0.5
            at = rng.randrange(LOG_EVERY, STEPS - 2 * LOG_EVERY, LOG_EVERY)
            path = tmp / f"case{k}.zarr"
            proc = spawn("run", preset, path, *(["--switch"] if switched else []))
            last, sent, err = run_until(proc, at, sig)
            t = reader.Trajectory.open(path)
            point, saves = t.attrs.get("resume", {}), int(t.attrs.get("saves", 0))
            if sig == signal.SIGKILL:
                kill_lost_steps.append(last - int(point.get("step", 0)))
                kill_lost_s.append(sent - float(point.get("saved_at", sent)) if sent else 0.0)
            else:
                stopped = t.events[-1]["step"] if t.events[-1]["kind"] == "interrupted" else None
                stop_lost.append(stopped - int(point["step"]) if stopped is not None else None)
            if switched and int(point.get("step", 0)) < SWITCH_AT and not any(
                    e["kind"] == "dynamics_changed" for e in t.events):
                how = "resume + switch again"  # stopped before the switch: the user switches again
                p = spawn("resume", path, "--switch")
                _, _, out = run_until(p, STEPS + 1, signal.SIGKILL)
                code = p.returncode
            else:
                how = "glasslab resume"
                code, out = glasslab_cli("resume", path)
            diff = differences(path, refs[switched]) if code == 0 else [f"exit {code}: {out.strip()[-300:]}"]
            ok += not diff
            key = (sig.name, switched)
            tally[key] = tally.get(key, 0) + 1
            print(f"case {k:2d}: {sig.name:7s} at step {at:4d} ({'switched' if switched else 'plain':8s}) "
                  f"-> resumed at step {point.get('step', 0):4d} ({point.get('source', '?')}; {saves:2d} saved states "
                  f"before) by {how}: "
                  f"{'bitwise identical' if not diff else 'DIFFERENT: ' + ', '.join(diff)}", flush=True)
    wall = time.time() - t0
    kinds = ", ".join(f"{n} {s}{' switched' if w else ''}" for (s, w), n in sorted(tally.items()))
    lost = [x for x in stop_lost if x is not None]
    print(f"kill/stop/resume stress: {ok}/{args.cases} resumed runs bitwise identical to the uninterrupted run "
          f"({kinds}); steps lost by a stop: max {max(lost, default=0)} over {len(lost)} stops; "
          f"by a SIGKILL: max {max(kill_lost_steps, default=0)} steps, {max(kill_lost_s, default=0):.2f} s "
          f"(cadence {CADENCE_MIN * 60:.2f} s); {wall:.0f} s wall")
    sys.exit(0 if ok == args.cases and all(x == 0 for x in lost) and len(lost) == len(stop_lost) else 1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
