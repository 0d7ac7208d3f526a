"""Stress: many processes race for one SIGKILLed store; the lock lets exactly one write at a time.

    OMP_NUM_THREADS=1 .venv/bin/python tests/stress/lock_race.py [--rounds 20] [--procs 6] [--seed 0]

Each round trains kill_resume.py's stress preset headless into a fresh store and SIGKILLs it at a
random logged step (a store with a stale lock and a resume state).  Then it starts --procs processes
at random offsets within SPREAD_S of each other, each one of:
- `glasslab resume STORE` (at least two per round): resume.prepare + train_headless as the CLI's
  resume, in a forked child that prints "@step N" for every step it logs, so that this script sees
  who trained and when;
- `glasslab analyze STORE --boot 10`: reads; on a store without a live writer it takes the lock to
  complete the two-time matrices (core/analysis/report.py), so it competes with the resumes;
- `glasslab stop STORE`: stops the live writer if there is one (refused otherwise), after which a
  later resume of the round may legitimately take the store over.
`glasslab run` is not among them: it always creates a new store, it never opens an existing one.

After the round's processes end, one more `glasslab resume` finishes the run if a stop left it
interrupted.  Checked every round:
1. at most one writer at a time: the spans [first logged step, exit] of the processes that trained
   are pairwise disjoint;
2. the store's session history agrees: one "resumed" event per process that trained, and between
   two "resumed" events an "interrupted" one (a session that ended before the next began);
3. the store is bitwise the uninterrupted run of the same preset (support.resume.differences:
   weights, snapshot steps, evals, observables, loss log, trajectory events, status).
Prints one line per round and a summary line for BENCHMARKS.md; exit 0 when every round passes.
--break-lock makes the racing resumes take the lock by force (`glasslab resume --force`): the checks
must then catch two writers, which shows they can fail.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # kill_resume.py: the preset, the forked child driver

import kill_resume as kr  # noqa: E402  (puts tests/ on the path for support.resume)

from glasslab.core.store import reader  # noqa: E402

from glasslab.core.store.reader import store_attrs  # noqa: E402
from support.resume import differences  # noqa: E402

SPREAD_S = 0.4  # start offsets: uniform in [0, SPREAD_S); a resume's start-up and lock take about as long


def resume_child(store: str, force: bool) -> None:
    """`glasslab resume STORE [--force]` (resume.prepare + train_headless, as the CLI) printing "@step N"."""
    from glasslab.core.records import StepLogged
    from glasslab.core.runs import resume
    from glasslab.tui.cli.run import train_headless

    run, lock = resume.prepare(Path(store), force=force)

    class Log:
        def handle(self, r):
            if isinstance(r, StepLogged):
                print(f"@step {r.step}", file=sys.stderr, flush=True)

    try:
        train_headless(run, Path(store), lock=lock, extra_sinks=[Log()])
    except SystemExit:
        raise
    except Exception as err:  # typer.Exit carries the code
        sys.exit(getattr(err, "exit_code", 1))


def cli_app():
    from glasslab.tui.cli import app

    return app


class Racer:
    """One process of a round: what it is, when it started, the times of its logged steps, its exit."""

    def __init__(self, kind: str, store: Path, force: bool = False):
        self.kind, self.steps, self.lines = kind, [], []
        self.start = time.time()
        if kind == "resume":
            self.proc = kr.Forked(resume_child, str(store), force)
        elif kind == "analyze":
            self.proc = kr.Forked(cli_app(), ["analyze", str(store), "--boot", "10", "--json"])
        else:
            self.proc = kr.Forked(cli_app(), ["stop", str(store), "--timeout", "10"])
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            if line.startswith("@step "):
                self.steps.append((time.time(), int(line.split()[1])))
            else:
                self.lines.append(line)

    def wait(self) -> int:
        self.reader.join()
        code = self.proc.wait()
        self.end = time.time()
        return code

    @property
    def trained(self) -> bool:
        return bool(self.steps)

    def span(self) -> tuple[float, float]:
        return self.steps[0][0], self.end


def one_round(k: int, rng: random.Random, tmp: Path, preset: Path, ref: Path, n: int,
              force: bool = False) -> tuple[bool, str, dict]:
    store = tmp / f"round{k}.zarr"
    while True:  # a kill before the first committed resume state leaves nothing to resume: draw again
        at = rng.randrange(kr.LOG_EVERY, kr.STEPS - 2 * kr.LOG_EVERY, kr.LOG_EVERY)
        last, _, _ = kr.run_until(kr.spawn("run", preset, store), at, signal.SIGKILL)
        if (store_attrs(store) or {}).get("resume"):
            break
        for leftover in tmp.glob(store.name + "*"):  # the store, its lock, its control folder
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    kinds = ["resume", "resume"] + [rng.choice(("resume", "analyze", "stop")) for _ in range(n - 2)]
    rng.shuffle(kinds)
    offsets = sorted(rng.uniform(0, SPREAD_S) for _ in kinds)
    racers, t0 = [], time.time()
    for kind, off in zip(kinds, offsets):
        time.sleep(max(0.0, t0 + off - time.time()))
        racers.append(Racer(kind, store, force))
    codes = [r.wait() for r in racers]
    trainers = [r for r in racers if r.trained]
    problems = []
    spans = sorted(r.span() for r in trainers)
    overlaps = sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
    if overlaps:
        problems.append(f"{overlaps} overlapping writer span(s)")
    if not trainers:
        problems.append("no process trained")
    finisher = None
    if reader.Trajectory.open(store).status != "finished":  # a stop won: finish the run as a user would
        finisher = Racer("resume", store)
        finisher.wait()
        trainers.append(finisher) if finisher.trained else problems.append("the final resume did not train")
    events = [e["kind"] for e in reader.Trajectory.open(store).events]
    resumed = events.count("resumed")
    if resumed != len(trainers):
        problems.append(f"{resumed} 'resumed' events for {len(trainers)} training processes")
    sessions = [e for e in events if e in ("resumed", "interrupted", "finished")]
    if any(a == b == "resumed" for a, b in zip(sessions, sessions[1:])):
        problems.append("two sessions without an end between them: " + " ".join(sessions))
    problems += differences(store, ref)
    tally = {kind: sum(1 for r in racers if r.kind == kind) for kind in ("resume", "analyze", "stop")}
    refused = sum(1 for r, c in zip(racers, codes) if r.kind == "resume" and not r.trained and c != 0)
    line = (f"round {k:2d}: killed at step {last:4d}; {n} racers ({tally['resume']} resume, {tally['analyze']} analyze, "
            f"{tally['stop']} stop) -> {len(trainers)} writer(s)"
            f"{' (incl. the final resume after a stop)' if finisher is not None else ''}, {refused} resume(s) refused; "
            f"exits {codes}: {'bitwise identical, one writer at a time' if not problems else 'FAILED: ' + '; '.join(problems)}")
    if problems:
        for r in racers:
            line += f"\n    {r.kind}: exit {r.proc.returncode}, {len(r.steps)} steps, {''.join(r.lines).strip()[-300:]!r}"
    return not problems, line, {"trainers": len(trainers), "refused": refused, "stops": tally["stop"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--procs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--break-lock", action="store_true",
                    help="the racing resumes take the lock by force (--force): the checks must then fail")
    args = ap.parse_args()
    if args.procs < 2:
        ap.error("--procs must be at least 2 (two resumes race in every round)")
    import glasslab.tui.cli  # noqa: F401 - preloaded (with torch) for every forked child
    import glasslab.tui.printer  # noqa: F401

    rng = random.Random(args.seed)
    t0 = time.time()
    ok, took, refused = 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preset = tmp / "stress.toml"
        preset.write_text(kr.PRESET)
        ref = tmp / "ref.zarr"
        p = kr.spawn("run", preset, ref)
        _, _, err = kr.run_until(p, kr.STEPS + 1, signal.SIGKILL)
        assert p.returncode == 0 and reader.Trajectory.open(ref).status == "finished", err
        for k in range(1, args.rounds + 1):
            good, line, info = one_round(k, rng, tmp, preset, ref, args.procs, args.break_lock)
            ok += good
            took += info["trainers"] > 1
            refused += info["refused"]
            print(line, flush=True)
    print(f"lock race stress: {ok}/{args.rounds} rounds with one writer at a time and the store bitwise identical "
          f"to the uninterrupted run ({args.procs} processes a round within {SPREAD_S} s; {refused} resumes refused "
          f"the lock; {took} rounds where a stop handed the store to a second writer); "
          f"{time.time() - t0:.0f} s wall")
    sys.exit(0 if ok == args.rounds else 1)


if __name__ == "__main__":
    main()
