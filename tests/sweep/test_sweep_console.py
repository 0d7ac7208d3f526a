"""The console's sweeps view: it lists ./sweeps with counts by state and opens one sweep's points and ensembles."""

from __future__ import annotations

import time
from pathlib import Path

from glasslab.core.sweep import grid, manifest
from glasslab.core.sweep.points import create
from glasslab.tui.app import make_app
from glasslab.tui.console.screens.sweeps_screen import EnsemblePlot

from support.sweep import reference, write_preset


async def _until(pilot, ok, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


async def test_sweeps_view_lists_sweeps_and_shows_points_and_ensembles(tmp_path):
    preset = write_preset(tmp_path, **{"run.steps": 200})
    d = create(grid.plan(str(preset), ["model.width=4,8", "run.seed=0:2"]), Path("sweeps") / "widths",
               {"kind": "local", "parallel": 1, "threads": 1})
    points = manifest.read(d)["points"]
    for p in points[:3]:  # the fourth point never ran
        reference(preset, p["overrides"], d / p["store"])
        manifest.set_point(d, p["id"], state="finished")
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await app.action_show("sweeps")
        await _until(pilot, lambda: screen.listed == [str(d)], "the sweep to be listed")
        table = screen.query_one("#sweeps-table")
        assert "finished 3" in str(table.get_row_at(0)[3]) and "pending 1" in str(table.get_row_at(0)[3])
        await pilot.press("enter")
        await _until(pilot, lambda: screen.result is not None, "the ensembles")
        rows = screen.query_one("#sweep-points")
        assert rows.row_count == 4 and str(rows.get_row_at(3)[3]) == "pending"
        groups = screen.query_one("#sweep-groups")
        assert groups.row_count == 2 and [str(groups.get_row_at(i)[1]) for i in range(2)] == ["2", "1"]
        assert "±" in str(groups.get_row_at(0)[3])  # two seeds: a mean with its standard error
        plot = screen.query_one(EnsemblePlot)
        assert [g["n"] for g in plot.groups] == [2, 1] and plot.names == ["width=4", "width=8"]
        await pilot.pause(0.2)
        assert plot._points  # the curves were drawn
