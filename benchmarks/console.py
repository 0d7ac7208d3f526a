"""The console's two targets: training throughput inside it, and how fast it answers a key.

(a) Throughput: the same preset trained headless (core.run.drive with the Zarr
    writer and the headless printer, as `glasslab run --no-ui`) and inside the
    console (the app factory with autostart, driven by App.run_test: the worker
    thread, the coalesced 4 Hz redraws and the plots all run; only the final
    write of escape sequences to a terminal is skipped).  Steps/s is the run's
    own figure, steps / RunFinished.wall_s; CPU s / 1000 steps counts every
    thread of the process (training, writer, UI), a figure a busy machine
    disturbs much less than wall time.  A third configuration, the headless
    sinks driven on a plain thread, separates the UI's own cost from the effect
    of training off the main thread.  Runs alternate (headless, thread, console,
    headless, ...) so machine noise hits all; the figures are medians of the
    per-round ratios.  Target: console / headless >= 0.9.
(b) Key latency while training (torch's default threads: both cores busy):
    `?` opens the help and `esc` closes it, alternately, one key every 0.2 s;
    latency is from the key reaching the app (as the terminal driver delivers
    it) to the first frame the compositor produces showing the change.
    Target: median and p95 < 100 ms.

    .venv/bin/python benchmarks/console.py [--preset quickstart] [--steps N] [--reps 3] [--presses 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from textual import events  # noqa: E402

from core import presets  # noqa: E402
from core.run import Run, drive  # noqa: E402
from core.writer import TrajectoryWriter  # noqa: E402
from tui.app import make_app  # noqa: E402
from tui.console.screens.help_screen import HelpScreen  # noqa: E402
from tui.printer import HeadlessPrinter  # noqa: E402


def headless(p: presets.Preset, out: Path) -> tuple[float, float]:
    """(steps/s, process CPU seconds per 1000 steps) of `glasslab run --no-ui`'s sinks."""
    path = out / f"headless-{time.monotonic_ns()}.zarr"
    printer = HeadlessPrinter(path, console=Console(file=open(os.devnull, "w")), plain=True)
    cpu = time.process_time()
    end = drive(Run(p), [TrajectoryWriter(path), printer])
    return end.step / end.wall_s, 1000 * (time.process_time() - cpu) / end.step


def headless_on_a_thread(p: presets.Preset, out: Path) -> tuple[float, float]:
    """The same on a plain thread: separates the console's own cost from the effect of training
    off the main thread (on this busy machine a thread trained up to 5x faster than the main
    thread: torch's intra-op threads apparently spin less against the other processes there)."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", headless(p, out)))
    thread.start()
    thread.join()
    return result["r"]


async def wait_until(condition, timeout: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the console run did not end")
        await asyncio.sleep(0.05)


UI_SHARE: list[float] = []  # CPU of the UI thread / wall time, per console run


async def in_console(p: presets.Preset, out: Path) -> tuple[float, float]:
    cpu, ui_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
    app = make_app(out_dir=out, autostart=p)
    async with app.run_test(size=(100, 30)):  # the app runs on this (the main) thread
        live = app.live
        await wait_until(lambda: live.worker is not None and not live.running)
        end = live.worker.result
    UI_SHARE.append((time.thread_time() - ui_cpu) / (time.perf_counter() - wall))
    return end.step / end.wall_s, 1000 * (time.process_time() - cpu) / end.step


async def key_latency(p: presets.Preset, out: Path, presses: int) -> list[float]:
    app = make_app(out_dir=out, autostart=p)
    frames: list[tuple[float, bool]] = []  # (time, help shown) of every frame the compositor produced
    latencies: list[float] = []
    async with app.run_test(size=(100, 30)):
        live = app.live
        await wait_until(lambda: live.curves is not None and live.curves.step > 0)
        display = app._display

        def recorded(screen, renderable):
            frames.append((time.perf_counter(), isinstance(screen, HelpScreen)))
            display(screen, renderable)

        app._display = recorded
        for i in range(presses):
            opening = i % 2 == 0
            key = events.Key("question_mark", "?") if opening else events.Key("escape", None)
            n0, t0 = len(frames), time.perf_counter()
            app._driver.send_message(key)  # what the terminal driver does with a key press
            shown = None
            while shown is None:
                await asyncio.sleep(0.001)
                shown = next((t for t, help_up in frames[n0:] if help_up == opening), None)
                if time.perf_counter() - t0 > 10:
                    raise TimeoutError("the key was not answered in 10 s")
            latencies.append(shown - t0)
            await asyncio.sleep(0.2)
        assert live.running, "the run ended during the measurement: give it more steps"
        live.stop("benchmark over")
        await wait_until(lambda: not live.running)
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quickstart")
    ap.add_argument("--steps", type=int, default=None, help="run.steps for the throughput runs (default: the preset's)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--presses", type=int, default=20)
    args = ap.parse_args()
    p = presets.load(args.preset, ["run.device=cpu"] + ([f"run.steps={args.steps}"] if args.steps else []))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start; preset {args.preset}, {p.run.steps} steps")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        headless(presets.with_overrides(p, {"run.steps": 200}), out)  # warm-up
        runs: dict[str, list[tuple[float, float]]] = {"headless": [], "thread": [], "console": []}
        for _ in range(args.reps):
            runs["headless"].append(headless(p, out))
            runs["thread"].append(headless_on_a_thread(p, out))
            runs["console"].append(asyncio.run(in_console(p, out)))
        rate = {k: [r for r, _ in v] for k, v in runs.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
        for name, label in (("headless", "headless (glasslab run --no-ui)"), ("thread", "headless sinks on a thread"),
                            ("console", "console")):
            print(f"(a) {label:<32} {statistics.median(rate[name]):8,.0f} steps/s   "
                  f"{cpu[name]:6.2f} CPU s / 1000 steps   (runs: {', '.join(f'{r:,.0f}' for r in rate[name])})")
        vs_cli = [c / h for c, h in zip(rate["console"], rate["headless"])]
        vs_thread = [c / t for c, t in zip(rate["console"], rate["thread"])]
        print(f"    console / headless         {statistics.median(vs_cli):.3f} steps/s  (rounds: "
              f"{', '.join(f'{r:.3f}' for r in vs_cli)})  target >= 0.9")
        print(f"    console / headless-thread  {statistics.median(vs_thread):.3f} steps/s  (rounds: "
              f"{', '.join(f'{r:.3f}' for r in vs_thread)});  CPU per step "
              f"{cpu['console'] / cpu['thread']:.3f}x")
        print(f"    the UI thread (drawing, Textual) used {statistics.median(UI_SHARE):.1%} of one core during the "
              f"console runs (runs: {', '.join(f'{x:.1%}' for x in UI_SHARE)}): the console's own cost")

        long = presets.with_overrides(p, {"run.steps": 1_000_000})
        lat = sorted(1000 * x for x in asyncio.run(key_latency(long, out, args.presses)))
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        print(f"(b) key latency while training  median {statistics.median(lat):.1f} ms  p95 {p95:.1f} ms  "
              f"max {lat[-1]:.1f} ms over {len(lat)} presses  target < 100 ms")


if __name__ == "__main__":
    main()
