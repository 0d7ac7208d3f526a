"""The console's two targets: training throughput inside it, and how fast it answers a key.

(a) Throughput: the same preset trained headless (core.run.drive with the Zarr
    writer and the headless printer, as `glasslab run --no-ui`) and inside the
    console (the app factory with autostart, driven by App.run_test: the training
    process, the relay, the coalesced redraws and the plots all run; only the
    final write of escape sequences to a terminal is skipped).  Steps/s is the
    run's own figure, steps / RunFinished.wall_s.  Runs alternate (headless,
    console, headless, ...) so machine noise hits both; the figure is the median
    of the per-pair ratios.  Target: console / headless >= 0.9.  Also shown: the
    CPU the console's own process (UI, relay) used while the run trained, as a
    share of one core: its whole cost, since the training runs in a child.
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
import time
from pathlib import Path

import torch


from rich.console import Console  # noqa: E402
from textual import events  # noqa: E402

from glasslab.core import presets  # noqa: E402
from glasslab.core.run import Run, drive  # noqa: E402
from glasslab.core.writer import TrajectoryWriter  # noqa: E402
from glasslab.tui.app import make_app  # noqa: E402
from glasslab.tui.console.screens.help_screen import HelpScreen  # noqa: E402
from glasslab.tui.printer import HeadlessPrinter  # noqa: E402


def headless(p: presets.Preset, out: Path) -> float:
    path = out / f"headless-{time.monotonic_ns()}.zarr"
    printer = HeadlessPrinter(path, console=Console(file=open(os.devnull, "w")), plain=True)
    end = drive(Run(p), [TrajectoryWriter(path), printer])
    return end.step / end.wall_s


async def wait_until(condition, timeout: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the console run did not end")
        await asyncio.sleep(0.05)


UI_SHARE: list[float] = []  # CPU of the console's process / wall time, per console run


async def in_console(p: presets.Preset, out: Path) -> float:
    app = make_app(out_dir=out, autostart=p)
    async with app.run_test(size=(100, 30)):
        live = app.live
        await wait_until(lambda: live.curves is not None and live.curves.step > 0, timeout=600)
        cpu, wall = time.process_time(), time.perf_counter()  # from the first step: start-up excluded
        await wait_until(lambda: live.worker is not None and not live.running)
        UI_SHARE.append((time.process_time() - cpu) / (time.perf_counter() - wall))
        end = live.worker.result
    return end.step / end.wall_s


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
        rates: dict[str, list[float]] = {"headless": [], "console": []}
        for _ in range(args.reps):
            rates["headless"].append(headless(p, out))
            rates["console"].append(asyncio.run(in_console(p, out)))
        ratios = [c / h for c, h in zip(rates["console"], rates["headless"])]
        print(f"(a) throughput  headless {statistics.median(rates['headless']):,.0f} steps/s  "
              f"console {statistics.median(rates['console']):,.0f} steps/s  "
              f"ratio {statistics.median(ratios):.3f} (pairs: {', '.join(f'{r:.3f}' for r in ratios)})  target >= 0.9")
        print(f"    the console's own process used {statistics.median(UI_SHARE):.1%} of one core while training "
              f"(runs: {', '.join(f'{x:.1%}' for x in UI_SHARE)})")

        long = presets.with_overrides(p, {"run.steps": 1_000_000})
        lat = sorted(1000 * x for x in asyncio.run(key_latency(long, out, args.presses)))
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        print(f"(b) key latency while training  median {statistics.median(lat):.1f} ms  p95 {p95:.1f} ms  "
              f"max {lat[-1]:.1f} ms over {len(lat)} presses  target < 100 ms")


if __name__ == "__main__":
    main()
