"""Deterministic data for the console tests: a synthetic record stream and stores written from it.

The console consumes the engine's records; feeding it a fixed, made-up stream
(with Delta and D of a known form) makes its plots reproducible to the
character, which real training on different CPUs would not be.  The same
stream written through the real TrajectoryWriter gives stores for the runs
browser (the writer turns the displacements into the msd matrix).  The tests at the end check the helpers themselves.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from glasslab.core.config import presets
from glasslab.core.config.schedule import log_grid
from glasslab.core.measure.online import online_waiting_times
from glasslab.core.records import (
    DynamicsChanged,
    Evaluation,
    RunFinished,
    RunStarted,
    SnapshotTaken,
    StepLogged,
)
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.hostcopy import HostCopy

N_PARAMS = 64

def delta_law(tw: float, t: float, aging: bool) -> float:
    """Delta(t_w, t_w + t): sub-diffusive in t, slower for older systems when aging."""
    return 1e-4 * t ** 0.8 * ((1.0 + tw / 20.0) ** -0.8 if aging else 1.0)


def loss_law(t: float, aging: bool) -> float:
    floor = 0.002 if aging else 0.03
    return floor + 0.09 / (1.0 + (t / 300.0) ** 0.9)


def synthetic_records(name: str = "synthetic", total: int = 5000, aging: bool = True, switch_at: int | None = None,
                      snapshots: int = 24, log_every: int = 50) -> list:
    """A whole run as records, with the steps/s fixed so that rates and ETAs are reproducible.

    Displacements are given from every earlier snapshot (the store then holds
    the whole msd triangle, as after complete_two_time).
    """
    grid = log_grid(10, total, snapshots)
    preset = presets.with_overrides(presets.Preset(name=name), {
        "dynamics.lr": 0.5, "dynamics.momentum": 0.5, "run.steps": total, "run.device": "cpu",
        "recording.snapshots": snapshots, "recording.log_every": log_every}).to_dict()
    online = online_waiting_times(grid, 8)  # the t_w the engine would name; displacements cover them all
    out: list = [RunStarted(name, preset, N_PARAMS, 500, "cpu", [["w", [N_PARAMS], 0]], grid, total, 0, online)]
    logged = list(range(log_every, total + 1, log_every))
    events = sorted([(s, 1, "snap") for s in grid] + [(s, 0, "log") for s in logged]
                    + ([(switch_at, -1, "switch")] if switch_at else []))
    for step, _, what in events:
        if what == "log":
            wiggle = 1.0 + 0.05 * math.sin(step / 37.0)
            out.append(StepLogged(step, loss_law(step, aging) * wiggle, 1000.0))
        elif what == "switch":
            old = presets.DynamicsConfig(**preset["dynamics"])
            out.append(DynamicsChanged(step, old, dataclasses.replace(old, kind="langevin", momentum=0.0, temperature=1e-4)))
        else:
            i = grid.index(step)
            displacements = {j: {"delta": delta_law(grid[j], step - grid[j], aging), "overlap": 0.5,
                                 "alpha2": 0.0, "participation": 1.0 / N_PARAMS} for j in range(i)}
            ev = Evaluation(loss_law(step, aging), 0.5, loss_law(step, aging) * 1.2 + 0.01, 0.4)
            out.append(SnapshotTaken(i, step, HostCopy(torch.zeros(N_PARAMS), None, None), ev,
                                {"D": 1e-3 / (1.0 + step / 100.0)}, {}, displacements=displacements))
    out.append(RunFinished(total, 5.0))
    return out


def write_store(path: Path, records: list) -> Path:
    """Write the records through the real writer (msd and D come from their displacements and observables)."""
    writer = TrajectoryWriter(path)
    for r in records:
        writer.handle(r)
    writer.close()
    return path


_TEMPLATE: Path | None = None


def two_stores(out_dir: Path) -> tuple[Path, Path]:
    """An aging run and a time-translation-invariant one, the second written last (listed first).

    Written once per test process (a couple of seconds on a busy machine) and
    copied; copytree keeps the modification times, hence the listing order.
    """
    global _TEMPLATE
    if _TEMPLATE is None:
        template = Path(tempfile.mkdtemp(prefix="glasslab-console-stores-"))
        atexit.register(shutil.rmtree, template, True)
        write_store(template / "toy-over-fixed.zarr", synthetic_records("toy-over", aging=True, switch_at=800))
        write_store(template / "toy-under-fixed.zarr", synthetic_records("toy-under", aging=False))
        _TEMPLATE = template
    out_dir.mkdir(parents=True, exist_ok=True)
    a, b = out_dir / "toy-over-fixed.zarr", out_dir / "toy-under-fixed.zarr"
    shutil.copytree(_TEMPLATE / a.name, a)
    shutil.copytree(_TEMPLATE / b.name, b)
    return a, b


@pytest.fixture
def one_torch_thread(monkeypatch):
    """Train with one intra-op thread in the flow tests (in the runs the console starts too: they inherit
    OMP_NUM_THREADS).

    With torch's two intra-op threads beside the UI, the writer and the other
    test processes, a shared two-core machine is oversubscribed and a 200-step
    run takes ten times longer.  The flows do not measure speed
    (benchmarks/console.py does, with torch's defaults).
    """
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def reap_runs(monkeypatch):
    """Runs the console starts are detached processes that outlive it by design: a test that fails
    midway must not leave them training on the shared machine, so they are killed at teardown."""
    from glasslab.core.runs import launch

    started = []
    spawn = launch._spawn

    def recording(argv, store):
        proc = spawn(argv, store)
        started.append(proc)
        return proc

    monkeypatch.setattr(launch, "_spawn", recording)
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


# ------------------------------------------------------------------ the helpers' own checks
