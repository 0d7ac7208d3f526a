"""Shared fixtures: small presets that train in a second, and temporary run directories.

Torch runs single-threaded in the suite unless a test says otherwise: GLASSLAB_THREADS=1
replaces run.threads = "auto" (core/threads.py) in this process and in every CLI it
starts, and OMP_NUM_THREADS=1 keeps torch's own default at one thread for code that
builds no Run.  A test that needs more threads passes an explicit count.
"""

from __future__ import annotations

import os
from pathlib import Path

# Before torch is imported anywhere: OpenMP reads its variable once.
os.environ["GLASSLAB_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from glasslab.core import presets  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


def tiny_preset(**over) -> presets.Preset:
    """A toy model on a small synthetic task: ~200 steps take well under a second."""
    base = {
        "model.kind": "toy", "model.width": 16,
        "data.name": "synthetic", "data.shape": [8], "data.classes": 4,
        "data.train_size": 200, "data.test_size": 100,
        "dynamics.kind": "sgd", "dynamics.lr": 0.5, "dynamics.batch_size": 20, "dynamics.momentum": 0.5,
        "recording.snapshots": 20, "recording.first": 5, "recording.log_every": 5,
        "run.steps": 200, "run.device": "cpu",
    }
    base.update(over)
    return presets.with_overrides(presets.Preset(name="tiny"), base)


@pytest.fixture
def tiny():
    return tiny_preset


@pytest.fixture
def run_to_store(tmp_path):
    """Train a preset through the real writer; returns the store path and the records."""
    from glasslab.core.run import Run, drive
    from glasslab.core.writer import TrajectoryWriter

    def go(preset, name="run.zarr", collect=True):
        run = Run(preset)
        records = []

        class Collect:
            def handle(self, r):
                records.append(r)

        path = tmp_path / name
        drive(run, [TrajectoryWriter(path), Collect()])
        return path, records

    return go


@pytest.fixture(autouse=True)
def _clean_cwd(monkeypatch, tmp_path_factory):
    """Tests run from a clean working directory so a local presets/ cannot shadow the shipped ones."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    monkeypatch.setenv("GLASSLAB_DATA", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(autouse=True)
def _no_heap_settling(monkeypatch):
    """The console's heap.settle() (tui/console/heap.py: a full collection, then gc.freeze) is
    for the console's own process, at quiet moments.  In a test worker it would collect the
    worker's heap instead (every test module, every app before it): 0.3-0.4 s a call, about 10 s
    of test_console_flows.py.  Here it does nothing; tests/test_console_units.py tests the real
    one, and the tmux tests run it in real consoles."""
    from glasslab.tui.console import heap

    monkeypatch.setattr(heap, "settle", lambda: None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The tests marked slow (10 s or more each) run first, the rest in file order.

    Under pytest-xdist (make test: two workers) a worker takes the next test as it frees up,
    so the long tests going first lets the short ones even out the workers' ends; a long
    test drawn last kept one worker busy alone for up to 30 s.  (Stable: in one process the
    order is the same but for the slow tests moved to the front.)"""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
