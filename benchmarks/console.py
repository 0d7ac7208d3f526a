"""The console's targets, now that every run is its own process and the console follows its store.

(a) Throughput: the same preset trained by the same detached process (core/runs/launch.py,
    `glasslab run --no-ui` in its own session), once unwatched and once followed by the
    console (the app factory driven by App.run_test: the follower thread, the coalesced
    redraws and the plots all run; only the final write of escape sequences to a terminal is
    skipped).  Steps/s is the run's own figure from its store, total_steps / wall_s.  Two
    ways: taking turns (unwatched, followed, ...), and side by side (both at once, so that a
    shared machine's load hits both alike); each figure is the median of the per-pair
    ratios.  Target: followed / unwatched >= 0.97.  Also shown: the CPU the console's
    process used while it followed, as a share of one core.
(b) Key latency while following a run that trains on both cores (torch's two threads):
    `?` opens the help and `esc` closes it, alternately, one key every 0.2 s; latency is
    from the key reaching the app to the first frame showing the change.
    Target: median < 50 ms, p95 < 100 ms.
(c) The writer's cost, in the training process, per snapshot and per loss-log flush, with
    the periodic flush that followers need (writer.LIVE_FLUSH_S = 1 s) and without it.
(d) Request to effect: `control.send` to the run's answer (applied at step S), for switches
    and a stop, at the quickstart's step rate and on a slow model (a step of tens of ms).
    Target: < 1 s.

    .venv/bin/python benchmarks/console.py [--preset quickstart] [--steps N] [--reps 3] [--presses 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from textual import events

from glasslab.core.config import presets
from glasslab.core.runs import control, launch, live
from glasslab.core.store.reader import Trajectory
from glasslab.tui.app import make_app
from glasslab.tui.console.screens.help_screen import HelpScreen


def wait_until(cond, timeout: float = 1800.0, what: str = "the run") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rate_of(store: Path) -> float:
    t = Trajectory.open(store)
    return int(t.events[-1]["step"]) / float(t.attrs["wall_s"])


def unwatched(p: presets.Preset, out: Path) -> float:
    store, proc = launch.start(p, out)
    proc.wait()
    return rate_of(store)


async def await_until(cond, timeout: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the followed run did not end")
        await asyncio.sleep(0.05)


UI_SHARE: list[float] = []


async def followed(p: presets.Preset, out: Path, on_start=None) -> float:
    app = make_app(out_dir=out, autostart=p)
    async with app.run_test(size=(100, 30)):
        lv = app.live
        if on_start is not None:  # just after the console launched its run
            await await_until(lambda: lv.session is not None)
            on_start()
        await await_until(lambda: lv.curves is not None and lv.curves.step > 0, timeout=600)
        cpu, wall = time.process_time(), time.perf_counter()
        await await_until(lambda: lv.worker is not None and not lv.running)
        UI_SHARE.append((time.process_time() - cpu) / (time.perf_counter() - wall))
        store = lv.session.path
    return rate_of(store)


async def side_by_side(p: presets.Preset, out: Path, unwatched_first: bool) -> tuple[float, float]:
    """The same preset twice at once: one run unwatched, one followed by the console; (unwatched, followed)
    steps/s.  Both see the same machine at the same time, which on a shared machine is fairer than
    taking turns; the console's own CPU is then a third competitor for the cores.  The run started
    second loads torch while the first trains and ends alone, so the order alternates between pairs."""
    started = []

    def start_unwatched():
        started.append(launch.start(p, out))

    if unwatched_first:
        start_unwatched()
    rate = await followed(p, out, on_start=None if unwatched_first else start_unwatched)
    alone, proc = started[0]
    await asyncio.to_thread(proc.wait)
    return rate_of(alone), rate


async def key_latency(p: presets.Preset, out: Path, presses: int) -> list[float]:
    app = make_app(out_dir=out, autostart=p)
    frames: list[tuple[float, bool]] = []
    latencies: list[float] = []
    async with app.run_test(size=(100, 30)):
        lv = app.live
        await await_until(lambda: lv.curves is not None and lv.curves.step > 0)
        display = app._display

        def recorded(screen, renderable):
            frames.append((time.perf_counter(), isinstance(screen, HelpScreen)))
            display(screen, renderable)

        app._display = recorded
        for i in range(presses):
            opening = i % 2 == 0
            key = events.Key("question_mark", "?") if opening else events.Key("escape", None)
            n0, t0 = len(frames), time.perf_counter()
            app._driver.send_message(key)
            shown = None
            while shown is None:
                await asyncio.sleep(0.001)
                shown = next((t for t, up in frames[n0:] if up == opening), None)
                if time.perf_counter() - t0 > 10:
                    raise TimeoutError("the key was not answered in 10 s")
            latencies.append(shown - t0)
            await asyncio.sleep(0.2)
        assert lv.running, "the run ended during the measurement: give it more steps"
        lv.stop("benchmark over")
        await await_until(lambda: not lv.running)
    return latencies


def writer_cost(p: presets.Preset, out: Path, flush_s: float) -> dict[str, list[float]]:
    """Wall time of the writer thread's work per record kind, in-process (the training process's view)."""
    import glasslab.core.store.writer as writer
    from glasslab.core.records import SnapshotTaken, StepLogged
    from glasslab.core.train.run import Run, drive

    costs: dict[str, list[float]] = {"snapshot": [], "flush": []}
    apply = writer.TrajectoryWriter._apply

    def timed_apply(self, record):
        t0 = time.perf_counter()
        n_before = self.n_loss
        apply(self, record)
        dt = time.perf_counter() - t0
        if isinstance(record, SnapshotTaken):
            costs["snapshot"].append(dt)
        elif isinstance(record, StepLogged) and self.n_loss != n_before:
            costs["flush"].append(dt)

    old = writer.LIVE_FLUSH_S
    writer.TrajectoryWriter._apply, writer.LIVE_FLUSH_S = timed_apply, flush_s
    try:
        t0 = time.perf_counter()
        drive(Run(p), [writer.TrajectoryWriter(out / f"cost-{time.monotonic_ns()}.zarr")])
        costs["wall"] = [time.perf_counter() - t0]
    finally:
        writer.TrajectoryWriter._apply, writer.LIVE_FLUSH_S = apply, old
    return costs


def request_latency(p: presets.Preset, out: Path, n: int) -> tuple[list[float], float, float]:
    """(switch latencies, stop latency, the run's steps/s) of a detached run, request file to answer."""
    store, proc = launch.start(p, out)
    wait_until(lambda: live.describe(store).status == "running" and live.describe(store).step > 0, 600)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        rid = control.send(store, "switch", changes={"lr": p.dynamics.lr * (1.0 + 0.01 * (i % 2))})
        answer = control.wait(store, rid, 60, every=0.005)
        assert answer is not None and answer.applied, answer
        times.append(time.perf_counter() - t0)
        time.sleep(0.3)
    rate = live.describe(store).steps_per_s
    t0 = time.perf_counter()
    answer = control.wait(store, control.send(store, "stop"), 60, every=0.005)
    stop = time.perf_counter() - t0
    assert answer is not None and answer.applied
    proc.wait()
    return times, stop, rate


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quickstart")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--presses", type=int, default=40)
    ap.add_argument("--only", default="asbcd", help="which parts to run: a (taking turns), s (side by side), b, c, d")
    args = ap.parse_args()
    p = presets.load(args.preset, ["run.device=cpu"] + ([f"run.steps={args.steps}"] if args.steps else []))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; preset {args.preset}, "
          f"{p.run.steps} steps; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if "a" in args.only:
            unwatched(presets.with_overrides(p, {"run.steps": 200}), out)  # warm-up (page cache, imports)
            rates: dict[str, list[float]] = {"unwatched": [], "followed": []}
            for _ in range(args.reps):
                rates["unwatched"].append(unwatched(p, out))
                rates["followed"].append(asyncio.run(followed(p, out)))
            ratios = [f / u for f, u in zip(rates["followed"], rates["unwatched"])]
            print(f"(a) throughput  unwatched {statistics.median(rates['unwatched']):,.0f} steps/s  "
                  f"followed {statistics.median(rates['followed']):,.0f} steps/s  ratio {statistics.median(ratios):.3f} "
                  f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)})  target >= 0.97")
            print(f"    the console's process used {statistics.median(UI_SHARE):.1%} of one core while following "
                  f"(runs: {', '.join(f'{x:.1%}' for x in UI_SHARE)})")
        if "s" in args.only:
            pairs = [asyncio.run(side_by_side(p, out, unwatched_first=i % 2 == 0)) for i in range(args.reps)]
            ratios = [f / u for u, f in pairs]
            print(f"(a) side by side (both at once)  unwatched {statistics.median(u for u, _ in pairs):,.0f} steps/s  "
                  f"followed {statistics.median(f for _, f in pairs):,.0f} steps/s  ratio {statistics.median(ratios):.3f} "
                  f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)})")
        if "b" in args.only:
            longer = presets.with_overrides(p, {"run.steps": 1_000_000})
            env = os.environ.pop("OMP_NUM_THREADS", None)  # the run on both cores: torch's default threads
            try:
                lat = [1000 * x for x in asyncio.run(key_latency(longer, out, args.presses))]
            finally:
                if env is not None:
                    os.environ["OMP_NUM_THREADS"] = env
            print(f"(b) key latency while following a run on both cores  median {statistics.median(lat):.1f} ms  "
                  f"p95 {pct(lat, 0.95):.1f} ms  max {max(lat):.1f} ms over {len(lat)} presses  target < 50 / < 100 ms")
        if "c" in args.only:
            for label, flush in (("before (flush at snapshots only)", float("inf")), ("after (LIVE_FLUSH_S = 1 s)", 1.0)):
                c = writer_cost(p, out, flush)
                snap, fl = [1000 * x for x in c["snapshot"]], [1000 * x for x in c["flush"]]
                share = sum(c["flush"]) / c["wall"][0]
                print(f"(c) writer {label}: per snapshot median {statistics.median(snap):.2f} ms over {len(snap)}; "
                      f"periodic loss flushes {len(fl)}" + (f", median {statistics.median(fl):.2f} ms, "
                                                          f"{share:.2%} of the run's wall time" if fl else ""))
        if "d" in args.only:
            quick = presets.with_overrides(p, {"run.steps": 1_000_000})
            sw, stop, rate = request_latency(quick, out, 10)
            print(f"(d) request to effect at {rate:,.0f} steps/s: switch median {1000 * statistics.median(sw):.0f} ms, "
                  f"max {1000 * max(sw):.0f} ms over {len(sw)}; stop {1000 * stop:.0f} ms  target < 1 s")
            slow = presets.with_overrides(p, {"run.steps": 1_000_000, "model.width": 4096, "dynamics.kind": "gd",
                                              "dynamics.momentum": 0.0, "recording.snapshots": 10})
            sw, stop, rate = request_latency(slow, out, 5)
            print(f"    slow model (width 4096, full-batch GD) at {rate:,.1f} steps/s ({1000 / rate:.0f} ms a step): "
                  f"switch median {1000 * statistics.median(sw):.0f} ms, max {1000 * max(sw):.0f} ms; stop {1000 * stop:.0f} ms")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
