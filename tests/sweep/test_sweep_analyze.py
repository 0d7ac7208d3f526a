"""glasslab analyze on a sweep directory: per-point numbers and ensemble means with standard errors
over seeds, checked against the stores with plain numpy."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from glasslab.core.analysis import report
from glasslab.core.sweep import ensemble, grid, manifest
from glasslab.core.sweep.points import create
from glasslab.tui.cli import app
from glasslab.tui.numbers import pm as _pm

from support.sweep import reference, write_preset

# These tests read the tables' rows as one line each: at a narrow width they come in parts
# (tui/tables.py), so the width is given, not taken from whatever terminal or $COLUMNS runs the suite.
WIDE = {"COLUMNS": "400"}
runner = CliRunner()

# Under pytest-xdist (make test) these tests share one worker: its module fixtures run their
# twelve points once instead of once per worker.
pytestmark = pytest.mark.xdist_group("sweep-analyze")


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A 2 (width) x 3 (seed) sweep whose points were run here into their own stores."""
    tmp = tmp_path_factory.mktemp("analyze")
    preset = write_preset(tmp, **{"run.steps": 300})
    plan = grid.plan(str(preset), ["model.width=8,4", "run.seed=0:3"])  # run widest first, tabled in order
    d = create(plan, tmp / "sweep", {"kind": "local", "parallel": 1, "threads": 1})
    for p in manifest.read(d)["points"]:
        reference(preset, p["overrides"], d / p["store"])
        manifest.set_point(d, p["id"], state="finished")
    return d


def test_ensemble_means_and_standard_errors_match_numpy_over_the_stores(sweep_dir):
    result = ensemble.analyze_sweep(sweep_dir, n_boot=20)
    assert result["group_axes"] == ["model.width"] and result["seed_axes"] == ["run.seed"]
    assert [g["values"] for g in result["groups"]] == [{"model.width": 4}, {"model.width": 8}]
    m = manifest.read(sweep_dir)
    for g, width in zip(result["groups"], (4, 8)):
        stores = [sweep_dir / p["store"] for p in m["points"] if p["overrides"]["model.width"] == width]
        runs = [report.load_two_time(s) for s in stores]
        assert g["n"] == 3 and g["N"] == runs[0][0].n_params and g["P"] == 200
        assert g["N_over_P"] == pytest.approx(runs[0][0].n_params / 200)
        delta = np.stack([mats["msd"] for _, mats in runs])  # [seed, t_w, t]
        i, j = 3, 9
        assert g["delta_mean"][i, j] == pytest.approx(delta[:, i, j].mean(), rel=1e-12)
        assert g["delta_sem"][i, j] == pytest.approx(delta[:, i, j].std(ddof=1) / np.sqrt(3), rel=1e-12)
        assert np.isnan(g["delta_mean"][j, i])  # below the diagonal stays empty
        loss = np.stack([t.evals()["train_loss"] for t, _ in runs])
        np.testing.assert_allclose(g["train_loss_mean"], loss.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(g["train_loss_sem"], loss.std(axis=0, ddof=1) / np.sqrt(3), rtol=1e-12)
        mus = [r["mu"] for r in result["points"] if r["values"]["model.width"] == width]
        assert g["mu"] == pytest.approx(np.mean(mus)) and g["mu_sem"] == pytest.approx(np.std(mus, ddof=1) / np.sqrt(3))
        assert g["final_train_loss"] == pytest.approx(loss[:, -1].mean())


def test_analyze_command_on_a_sweep_writes_tables_csv_and_figure(sweep_dir, tmp_path):
    pytest.importorskip("matplotlib")
    res = runner.invoke(app, ["analyze", str(sweep_dir), "--boot", "20", "--csv", str(tmp_path / "csv"),
                              "--png", str(tmp_path / "fig.png")])
    assert res.exit_code == 0, res.output + res.stderr
    assert "ensembles over run.seed" in res.output and "N/P" in res.output and "±" in res.output
    assert "N_Delta" not in res.output  # a cross-entropy sweep has no constraints to count
    lines = [line for line in res.output.splitlines() if "science.md" in line]  # one, as single-run analyze
    assert len(lines) == 1 and lines[0].startswith("what every number means: ") and Path(lines[0].split(": ", 1)[1]).is_file()
    groups = list(csv.DictReader((tmp_path / "csv" / "groups.csv").open()))
    assert "N_Delta_over_P" not in groups[0]
    assert [g["model.width"] for g in groups] == ["4", "8"] and all(g["n_seeds"] == "3" for g in groups)
    assert len(list(csv.DictReader((tmp_path / "csv" / "points.csv").open()))) == 6
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    res = runner.invoke(app, ["analyze", str(sweep_dir), "--boot", "20", "--json"])
    out = json.loads(res.output)
    assert len(out["points"]) == 6 and len(out["groups"][0]["delta_mean"]) == len(out["groups"][0]["steps"])
    assert out["has_n_delta"] is False and out["groups"][0]["N_Delta_over_P"] is None
    assert out["docs"] == report.DOCS == "docs/science.md"
    help_text = runner.invoke(app, ["analyze", "--help"], terminal_width=200).output
    assert "science.md, shipped with glasslab" in help_text and "sweep directory" in help_text


@pytest.fixture(scope="module")
def hinge_sweep(tmp_path_factory):
    """A 2 (width) x 3 (seed) sweep under the quadratic hinge on parity labels with full-batch GD, as
    the jamming study ([SG19]; presets/transition-jamming.toml), run here.  Width 2, seed 0 gets stuck:
    its Delta stops growing and the collapse fit of mu stops on the upper end of its grid."""
    tmp = tmp_path_factory.mktemp("hinge")
    preset = write_preset(tmp, "hinge", **{"model.loss": "hinge2", "data.binary": "parity", "run.steps": 300,
                                           "dynamics.kind": "gd", "dynamics.lr": 0.5})
    plan = grid.plan(str(preset), ["model.width=2,16", "run.seed=0:3"])
    d = create(plan, tmp / "sweep", {"kind": "local", "parallel": 1, "threads": 1})
    for p in manifest.read(d)["points"]:
        reference(preset, p["overrides"], d / p["store"])
        manifest.set_point(d, p["id"], state="finished")
    return d


def _n_delta_over_p(store) -> float:
    """The reference: the last stored N_Delta over the training set size, straight from the store."""
    t, _ = report.load_two_time(store)
    return float(np.asarray(t.evals()["n_delta"])[-1]) / t.attrs["train_size"]


def test_hinge_sweep_tables_json_and_csv_carry_N_Delta_over_P(hinge_sweep, tmp_path):
    pytest.importorskip("matplotlib")
    m = manifest.read(hinge_sweep)
    res = runner.invoke(app, ["analyze", str(hinge_sweep), "--boot", "10", "--json", "--csv", str(tmp_path / "csv"),
                              "--png", str(tmp_path / "fig.png")])
    assert res.exit_code == 0, res.output + res.stderr
    out = json.loads(res.output)
    assert out["has_n_delta"] is True
    groups = list(csv.DictReader((tmp_path / "csv" / "groups.csv").open()))
    points = {r["point"]: r for r in csv.DictReader((tmp_path / "csv" / "points.csv").open())}
    for g, row, width in zip(out["groups"], groups, (2, 16)):
        ids = [p["id"] for p in m["points"] if p["overrides"]["model.width"] == width]
        ref = np.array([_n_delta_over_p(hinge_sweep / p["store"]) for p in m["points"] if p["id"] in ids])
        assert g["N_Delta_over_P"] == pytest.approx(ref.mean(), rel=1e-12)
        assert g["N_Delta_over_P_sem"] == pytest.approx(ref.std(ddof=1) / np.sqrt(3), rel=1e-12)
        assert float(row["N_Delta_over_P"]) == pytest.approx(ref.mean(), rel=1e-12)
        assert float(row["N_Delta_over_P_sem"]) == pytest.approx(ref.std(ddof=1) / np.sqrt(3), rel=1e-12)
        for i, r in zip(ids, ref):
            assert float(points[i]["N_Delta_over_P"]) == pytest.approx(r, rel=1e-12)
            assert int(points[i]["N_Delta"]) == round(r * 200)
    narrow = out["groups"][0]["N_Delta_over_P"]
    assert narrow > 0.05  # N/P ~ 0.1: far below jamming, many constraints stay unsatisfied (not a vacuous 0)
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    res = runner.invoke(app, ["analyze", str(hinge_sweep), "--boot", "10"], env=WIDE)
    assert res.exit_code == 0, res.output + res.stderr
    tables = res.output.split("ensembles over")
    assert len(tables) == 2 and "N_Delta/P" in tables[0] and "N_Delta/P" in tables[1]


def test_analyze_a_sweep_with_nothing_run_yet_is_one_line(tmp_path):
    plan = grid.plan(str(write_preset(tmp_path)), ["run.seed=0:2"])
    d = create(plan, tmp_path / "sweep", {"kind": "local"})
    res = runner.invoke(app, ["analyze", str(d)])
    assert res.exit_code == 2 and "no point" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("v, e, text", [
    (0.63, 0.0067, "0.6300 ± 0.0067"), (0.893, 0.02, "0.893 ± 0.020"),  # the two cells a user saw side by side
    (0.848, 0.33, "0.85 ± 0.33"), (-0.5, 0.012, "-0.500 ± 0.012"), (1234.5, 230, "1230 ± 230"),
    (0.0995, 0.0996, "0.10 ± 0.10"),  # the error rounds up a decade: value and error follow it
    (-1e-5, 0.3, "0.00 ± 0.30"),  # no "-0.00"
    (1.03e-12, 1e-13, "(1.03 ± 0.10)e-12"), (1.07e-12, 6.6e-15, "(1.0700 ± 0.0066)e-12"),
    (0.4, None, "0.4"), (1.5, 0.0, "1.5 ± 0"), (None, 0.1, "-"),
])
def test_mean_and_error_get_the_digits_the_error_warrants(v, e, text):
    assert _pm(v, e) == text


def test_every_mean_and_error_cell_of_the_tables_follows_one_rule(sweep_dir, hinge_sweep):
    """Each 'v ± e' cell: e with two significant digits, v to the same decimal place.  On all lags
    (--lag-max all), where the stuck hinge point sits on the upper bound (on lags t <= t_w it sits on
    the lower one, and so does another point of width 2)."""
    import re

    cells = []
    for d in (sweep_dir, hinge_sweep):
        res = runner.invoke(app, ["analyze", str(d), "--boot", "10", "--lag-max", "all"])
        assert res.exit_code == 0, res.output + res.stderr
        cells += re.findall(r"(-?[0-9.]+) ± ([0-9.]+)", res.output)
    assert len(cells) == 4 * 2 + 3 * 2 + 12 - 1  # every group column and point mu, less the one on the fit bound
    for v, e in cells:
        if e != "0":
            assert len(v.partition(".")[2]) == len(e.partition(".")[2]), (v, e)
            assert len(e.replace(".", "").lstrip("0")) == 2 or e.endswith("0") and "." not in e, (v, e)


def _shown_labels(axis) -> list:
    """The tick labels matplotlib draws: inside the view, visible, with text (major and minor)."""
    lo, hi = sorted(axis.get_view_interval())
    return [t.label1 for t in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
            if lo <= t.get_loc() <= hi and t.label1.get_visible() and t.label1.get_text()]


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


@pytest.mark.parametrize("many", [False, True])
def test_sweep_figure_tick_labels_and_legend_never_overlap_and_bounds_are_marked(hinge_sweep, many):
    """As run (2 groups), and as a 30-group sweep over N/P = 0.2..0.6 (less than a decade: matplotlib's
    own log axis labels every minor tick there) with every 7th group's mu on the fit bound."""
    pytest.importorskip("matplotlib")
    import copy

    from glasslab.tui import sweep_figure as sf

    result = ensemble.analyze_sweep(hinge_sweep, n_boot=10, lag_max="all")  # the stuck point on the upper bound
    if many:
        groups = []
        for i in range(30):
            g = copy.deepcopy(result["groups"][i % 2])
            g["values"], g["N_over_P"] = {"model.width": i + 1}, 0.2 + 0.4 * i / 29
            g["mu_at_bound"], g["mu_n_at_bound"] = ("upper", 1) if i % 7 == 0 else (None, 0)
            groups.append(g)
        result["groups"] = groups
    n_bound = sum(1 for g in result["groups"] if g["mu_at_bound"] == "upper")
    fig = sf.build_figure(result)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    titles = [a.get_title() for a in fig.axes]
    assert any("N_Delta / P" in t for t in titles)
    assert fig.axes[titles.index(next(t for t in titles if "N_Delta" in t))].get_yscale() == "linear"
    for a in fig.axes:
        for axis in (a.xaxis, a.yaxis):
            labels = _shown_labels(axis)
            assert len(labels) >= 2, (a.get_title(), axis.axis_name)
            boxes = [lb.get_window_extent(renderer) for lb in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    assert not _overlap(boxes[i], boxes[j]), (a.get_title(), labels[i].get_text(), labels[j].get_text())
    (legend,) = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend())]
    box = legend.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0
    for a in fig.axes:
        assert not _overlap(box, a.get_tightbbox(renderer)), a.get_title()
    texts = [t.get_text() for t in legend.get_texts()]
    assert len(texts) <= sf.MAX_GROUP_KEYS + 1 + 3 + 2
    assert ("mu at the fit bound (arrow up: a lower bound)" in texts) == (n_bound > 0)
    mu_axes = fig.axes[titles.index("aging exponent mu")]
    open_markers = [ln for ln in mu_axes.get_lines() if ln.get_marker() == "o" and ln.get_markerfacecolor() == "white"]
    assert sum(len(ln.get_xdata()) for ln in open_markers) == n_bound
    assert n_bound == (5 if many else 1)  # as run: width 2 holds the stuck point
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_points_on_the_fit_bound_are_flagged_as_the_single_run_analysis_does(hinge_sweep, sweep_dir):
    flagged = 0
    for d in (hinge_sweep, sweep_dir):
        result = ensemble.analyze_sweep(d, n_boot=10, lag_max="all")  # the stuck point on the upper bound
        flagged += sum(1 for r in result["points"] if r["mu_at_bound"])
        for r in result["points"]:
            fit = report.analyze_store(r["store"], n_boot=10, lag_max="all")["analysis"]["aging"]["all"]
            assert (r["mu_at_bound"] is not None) == bool(fit["at_bound"])
            if fit["at_bound"]:
                assert r["mu_at_bound"] == ("upper" if fit["mu"] > 0.5 else "lower")
        for g in result["groups"]:
            rows = [r for r in result["points"] if r["id"] in g["ids"]]
            assert g["mu_n_at_bound"] == sum(1 for r in rows if r["mu_at_bound"])
    assert flagged >= 1  # the stuck narrow hinge point: the check above is not vacuous
    res = runner.invoke(app, ["analyze", str(hinge_sweep), "--boot", "10", "--lag-max", "all"])
    assert "≥ 1.5 (at fit bound)" in res.output and "(1/3 at fit bound)" in res.output
    assert "a bound, not a value" in res.output


async def test_the_consoles_sweeps_screen_shows_N_Delta_and_the_bound_as_analyze_does(hinge_sweep):
    """The sweeps screen formats its ensembles with the CLI's rule (tui/numbers.py), with N_Delta/P under a
    hinge loss and a mu on the fit bound marked as a bound."""
    from glasslab.tui.app import make_app
    from glasslab.tui.numbers import bounded_mu, pm

    Path("sweeps").mkdir()
    (Path("sweeps") / "hinge").symlink_to(hinge_sweep)  # the screen lists ./sweeps (the test's own cwd)
    app = make_app(out_dir=Path("runs"))
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await app.action_show("sweeps")
        deadline = time.monotonic() + 60
        while screen.listed != [str(Path("sweeps") / "hinge")]:
            assert time.monotonic() < deadline, "the sweep was not listed"
            await pilot.pause(0.1)
        await pilot.press("enter")
        while screen.result is None:
            assert time.monotonic() < deadline, "no ensembles"
            await pilot.pause(0.1)
        table = screen.query_one("#sweep-groups")
        header = [str(c.label) for c in table.columns.values()]
        assert header[-1] == "N_Delta/P"
        for i, g in enumerate(screen.result["groups"]):
            row = [str(x) for x in table.get_row_at(i)]
            assert row[-1] == pm(g["N_Delta_over_P"], g["N_Delta_over_P_sem"])
            assert row[header.index("mu")] == bounded_mu(g["mu"], g["mu_sem"], g["mu_at_bound"], g["mu_n_at_bound"], g["n"])
        assert any("at fit bound" in str(table.get_row_at(i)[header.index("mu")]) for i in range(table.row_count))


def test_student_t_intervals_over_seeds_and_what_they_say_of_zero():
    from glasslab.core.sweep import ensemble

    # mean 0.1, sem 0.03 over 5 seeds: t_{0.975,4} = 2.776 gives [0.0167, 0.1833], above 0
    lo, hi = ensemble.t_interval(0.1, 0.03, 5)
    assert abs(lo - (0.1 - 2.776 * 0.03)) < 1e-12 and abs(hi - (0.1 + 2.776 * 0.03)) < 1e-12
    assert ensemble.reading([lo, hi]) == "above 0"
    # the same sem over 3 seeds (t = 4.303) reaches below zero: undecided, and fewer than 5 seeds says so
    assert ensemble.reading(ensemble.t_interval(0.1, 0.03, 3), 3) == "contains 0: undecided (3 seeds < 5: indicative only)"
    assert ensemble.reading(ensemble.t_interval(-0.3, 0.03, 5)) == "below 0"
    assert ensemble.t_interval(0.1, None, 1) is None and ensemble.reading(None) == "one seed: no interval"
    # against numpy's own t quantile is not available without scipy: check the table's monotone fall to 1.96
    assert list(ensemble._T975) == sorted(ensemble._T975, reverse=True) and ensemble._T975[-1] > 1.96


def test_an_ensemble_says_no_more_than_its_points_and_reads_a_slope_against_diffusion():
    """A new user's try: two 500-step points each "too short to judge", yet the ensemble said mu "above 0"
    and the late slope "above 0" (a slope's question is diffusion, 1, not 0)."""
    from glasslab.core.sweep import ensemble

    assert ensemble.reading([2.1, 2.22], 5, slope=True) == "super-diffusive"
    assert ensemble.reading([0.9, 1.1], 5, slope=True) == "diffusive"
    assert ensemble.reading([0.3, 0.6], 2, slope=True) == "sub-diffusive (2 seeds < 5: indicative only)"
    assert ensemble.reading([0.7, 1.1], 5, slope=True) == "undecided"
    assert ensemble.reading([0.185, 0.238], 2, too_short=2) == "too short to judge (2 of 2 points below the data rule)"
