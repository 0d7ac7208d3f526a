"""Shared fixtures: small presets that train in a second, and temporary run directories.

The tests are grouped by the stages of core/ (config, system, measure, store, train, runs,
analysis, sweep) and by the user's surfaces (cli, console); helpers shared between them
live in tests/support/.

Torch runs single-threaded in the suite unless a test says otherwise: GLASSLAB_THREADS=1
replaces run.threads = "auto" (core/config/threads.py) in this process and in every CLI it
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

from support.presets import tiny_preset  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny():
    return tiny_preset


@pytest.fixture
def run_to_store(tmp_path):
    """Train a preset through the real writer; returns the store path and the records."""
    from glasslab.core.store.writer import TrajectoryWriter
    from glasslab.core.train.run import Run, drive

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
    of test_console_flows.py.  Here it does nothing; tests/console/test_console_units.py tests the real
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
