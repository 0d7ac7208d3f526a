"""SVG snapshots of the console's main screens at 100x30 and 80x24 (pytest-textual-snapshot).

Everything in the frames is made deterministic: presets and runs live in
relative folders of the test's working directory (no temporary paths), the
live run is a fixed synthetic record stream (no timings), and the stored runs
are written from such streams.  Update with `pytest --snapshot-update` after
checking the new images in the report.

The frames are textual's and rich's drawing, exact to the character: they are checked under the
releases that drew them (snapshot-pins.txt, which make test installs) and skipped under others
(make test-floors, at textual's floor), where the behaviour tests still run.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from textual.widgets import DataTable

from glasslab.core.config.presets import shipped_dir
from glasslab.tui.app import make_app
from glasslab.tui.console.curves import RunCurves

from support.console import synthetic_records, two_stores

SIZES = [(100, 30), (80, 24)]

DRAWN_BY = dict(line.strip().split("==") for line in Path(__file__).with_name("snapshot-pins.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
OTHERS = {name: version(name) for name, v in DRAWN_BY.items() if version(name) != v}
pytestmark = pytest.mark.skipif(bool(OTHERS), reason="the snapshots were drawn by " + ", ".join(
    f"{n} {v}" for n, v in DRAWN_BY.items()) + "; here " + ", ".join(f"{n} is {v}" for n, v in OTHERS.items()))


async def settle(pilot, condition, timeout: float = 60.0) -> None:
    """Wait for `condition`, then until two frames in a row are the same (layout has caught up)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the screen did not settle"
        await asyncio.sleep(0.05)
    frame = None
    while (now := re.sub(r"terminal-\d+-", "", pilot.app.export_screenshot())) != frame:
        assert time.monotonic() < deadline, "the screen did not settle"
        frame = now
        await pilot.pause(0.1)


@pytest.fixture
def presets_here():
    """./presets with the quickstart and an under-parametrised synthetic preset (relative paths in the frame)."""
    local = Path("presets")
    local.mkdir()
    shutil.copy(shipped_dir() / "quickstart.toml", local / "quickstart.toml")
    (local / "tiny-under.toml").write_text(
        'description = "Width-2 toy model: fewer parameters than constraints"\n'
        '[model]\nkind = "toy"\nwidth = 2\n[data]\nshape = [16]\ntrain_size = 500\ntest_size = 100\n'
        '[run]\nsteps = 3000\n')
    return local


@pytest.mark.parametrize("size", SIZES, ids=["100x30", "80x24"])
def test_presets_screen(snap_compare, presets_here, size):
    app = make_app(out_dir="runs", presets_dir="presets")

    async def ready(pilot):
        screen = pilot.app.screen
        await settle(pilot, lambda: len(screen.summaries) == 2)

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=["100x30", "80x24"])
def test_live_screen(snap_compare, size):
    app = make_app(out_dir="runs")
    curves = RunCurves("toy-over")
    for r in synthetic_records("toy-over", total=20000, switch_at=3000)[:-1]:
        if getattr(r, "step", 0) <= 8000:
            curves.apply(r)
    curves.path = "runs/toy-over-fixed.zarr"

    async def running(pilot):
        await pilot.press("l")
        pilot.app.live.display_curves(curves)

    assert snap_compare(app, terminal_size=size, run_before=running)


@pytest.mark.parametrize("size", SIZES, ids=["100x30", "80x24"])
def test_runs_screen_with_two_runs_overlaid(snap_compare, monkeypatch, size):
    # The verdicts are core.analysis's (checked in test_console_flows); fixed here so that
    # this picture only changes when the screen does.
    monkeypatch.setattr("glasslab.tui.console.screens.runs_screen.verdict_of",
                        lambda path: "aging" if "over" in Path(path).name else "no aging (TTI)")
    two_stores(Path("runs"))
    app = make_app(out_dir="runs")

    async def overlaid(pilot):
        await pilot.press("r")
        screen = pilot.app.screen
        table = screen.query_one(DataTable)
        await settle(pilot, lambda: table.row_count == 2 and "…" not in [str(v) for v in table.get_column_at(5)])
        await pilot.press("enter", "down", "o")
        await settle(pilot, lambda: len(screen.curves) == 2)

    assert snap_compare(app, terminal_size=size, run_before=overlaid)


def test_help_screen(snap_compare, presets_here):
    app = make_app(out_dir="runs", presets_dir="presets")

    async def ready(pilot):
        screen = pilot.app.screen
        await settle(pilot, lambda: len(screen.summaries) == 2)

    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"], run_before=ready)
