"""Tables that fit (issue 30, item 3): analyze RUN, analyze SWEEP, sweep status, ps and the console's sweep
view at 80 and 120 columns keep every identifying column and every figure whole.  The reference for
"whole" is the same table printed wide (1,000 columns): every figure there must appear, uncut, at 80
and 120, no line may pass the width, and no cell may end in an ellipsis."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from glasslab.core.analysis import report
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.sweep import grid, manifest
from glasslab.core.sweep.points import create
from glasslab.core.train.run import Run, drive
from glasslab.tui.cli import app

from support.presets import tiny_preset
from support.sweep import reference, write_preset

runner = CliRunner()
pytestmark = pytest.mark.xdist_group("tables-fit")
# A figure: 0.272 ± 0.075, [-0.0214, 0.812], 20,000/20,000, 1.5e-05, 0.0790 ± 0.0092 ... taken apart
# into its numbers (wrapping at spaces may put "±" and the error on the next line; a number never).
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
WIDE = 1000


def numbers(text: str) -> Counter:
    return Counter(NUMBER.findall(text))


def assert_fits(wide: str, narrow: str, width: int, keys: list[str], drop: str = "") -> None:
    lines = narrow.splitlines()
    if drop:  # a folder named in a title (ps: "stores under DIR") is no figure
        wide, narrow = wide.replace(drop, ""), narrow.replace(drop, "")
    assert max(len(line.rstrip()) for line in lines) <= width, "\n".join(line for line in lines if len(line.rstrip()) > width)
    assert "…" not in narrow, narrow
    missing = numbers(wide) - numbers(narrow)  # a cut figure loses digits: its number is no longer there
    assert not missing, (missing, narrow)
    for key in keys:
        assert key in narrow, (key, narrow)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit")
    preset = write_preset(tmp, **{"run.steps": 200})
    d = create(grid.plan(str(preset), ["model.width=8,4", "run.seed=0:2"]), tmp / "sweep",
               {"kind": "local", "parallel": 1, "threads": 1})
    for p in manifest.read(d)["points"]:
        reference(preset, p["overrides"], d / p["store"])
        manifest.set_point(d, p["id"], state="finished")
    return d


def _cli(args, width):
    res = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(width)})
    assert res.exit_code == 0, res.output + res.stderr
    return res.stdout


@pytest.mark.parametrize("width", [80, 120])
def test_analyze_sweep_keeps_every_figure_and_the_axes(sweep_dir, width):
    wide = _cli(["analyze", sweep_dir, "--boot", "10"], WIDE)
    narrow = _cli(["analyze", sweep_dir, "--boot", "10"], width)
    # every part of a split table repeats the axis column: count its header against the parts
    assert_fits(wide, narrow, width, ["point", "width", "000", "003", "95 %"])
    tables = narrow.count("\n width ") + narrow.count("\n point ")
    assert tables >= wide.count("\n width ") + wide.count("\n point ")


@pytest.mark.parametrize("width", [80, 120])
def test_sweep_status_keeps_every_figure_and_the_axes(sweep_dir, width):
    wide = _cli(["sweep", "status", sweep_dir], WIDE)
    narrow = _cli(["sweep", "status", sweep_dir], width)
    assert_fits(wide, narrow, width, ["point", "width", "seed", "200 / 200", "finished: 4"])


@pytest.mark.parametrize("width", [80, 120])
def test_ps_keeps_the_store_and_every_figure(tmp_path, monkeypatch, width):
    out = tmp_path / "a-long-directory-name-for-the-runs-of-this-test"
    for i in range(2):
        drive(Run(tiny_preset(**{"run.steps": 60})), [TrajectoryWriter(out / f"quickstart-2026120{i}-000000.zarr")])
    wide = _cli(["ps", "--all", out], WIDE)
    narrow = _cli(["ps", "--all", out], width)
    assert_fits(wide, narrow, width, ["STORE", "quickstart-20261200-000000.zarr", "60/60", "finished"], drop=str(out))
    # every part names its stores
    parts = narrow.count("STORE")
    assert narrow.count("quickstart-20261201-000000.zarr") == parts


@pytest.mark.parametrize("width", [80, 120])
def test_analyze_run_keeps_every_figure(tmp_path, width):
    from glasslab.tui.analysis_table import print_analysis

    path = tmp_path / "run.zarr"
    drive(Run(tiny_preset(**{"run.steps": 300})), [TrajectoryWriter(path)])
    r = report.analyze_store(path, n_boot=10)

    def render(w):
        c = Console(width=w, record=True, file=open("/dev/null", "w"))
        print_analysis(r, c)
        return c.export_text()

    assert_fits(render(WIDE), render(width), width, ["verdict", "mu, all t_w"])


async def _until(pilot, ok, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


@pytest.mark.parametrize("width", [80, 120])
async def test_the_console_sweep_view_shows_its_tables_whole(sweep_dir, tmp_path, monkeypatch, width):
    import shutil

    from glasslab.tui.app import make_app

    monkeypatch.chdir(tmp_path)
    shutil.copytree(sweep_dir, Path("sweeps") / "widths")
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=(width, 40)) as pilot:
        screen = await app.action_show("sweeps")
        await _until(pilot, lambda: screen.listed, "the sweep to be listed")
        await pilot.press("enter")
        await _until(pilot, lambda: screen.result is not None, "the ensembles")
        await pilot.pause(0.3)
        for name, keys in (("#sweep-points", 3), ("#sweep-groups", 1)):
            table = screen.query_one(name)
            # whole: the columns' total width fits the table's own width (nothing past its right edge),
            # and the identifying columns stay fixed if it ever scrolls
            assert table.virtual_size.width <= table.scrollable_content_region.width, (name, table.virtual_size)
            assert table.fixed_columns == keys
