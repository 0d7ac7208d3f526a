"""Ensembles carry every error (issue 29, item 3): beside each Student-t interval over seeds, the band over
fit windows; per fit window its own mean and interval; N/(P C); the replicas' growth exponents over seeds.
Each is checked against the points' own numbers with plain numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from glasslab.core.analysis import replicas, report
from glasslab.core.sweep import ensemble, grid, manifest
from glasslab.core.sweep.points import create
from glasslab.tui.cli import app

from support.sweep import reference, write_preset

runner = CliRunner()
T975_3 = 4.303  # t_{0.975, 2}: three seeds


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """1 width x 3 seeds of the tiny preset, run here, each branched into noise-on and two replicas at two t_w."""
    tmp = tmp_path_factory.mktemp("errors")
    preset = write_preset(tmp, **{"run.steps": 300})
    d = create(grid.plan(str(preset), ["model.width=8", "run.seed=0:3"]), tmp / "sweep",
               {"kind": "local", "parallel": 1, "threads": 1})
    for p in manifest.read(d)["points"]:
        reference(preset, p["overrides"], d / p["store"])
        manifest.set_point(d, p["id"], state="finished")
        res = runner.invoke(app, ["control", str(d / p["store"]), "--at", "100", "--at", "200", "--steps", "60",
                                  "--replicas", "2", "--replicas-only"])
        assert res.exit_code == 0, res.output
        res = runner.invoke(app, ["control", str(d / p["store"]), "--at", "100", "--steps", "60", "--replicas", "2"])
        assert res.exit_code == 0, res.output  # adds the noise-off branch at the first t_w: R
    return d, ensemble.analyze_sweep(d, n_boot=20)


def test_every_interval_over_seeds_has_its_band_over_fit_windows(sweep):
    d, result = sweep
    [g] = result["groups"]
    rows = result["points"]
    for name, key in ensemble.WINDOWED.items():
        per_point = [report.analyze_store(r["store"], n_boot=20)["analysis"]["estimates"][key] for r in rows]
        labels = set.intersection(*[{k for k, v in e["windows"].items() if v is not None} for e in per_point])
        if not labels:  # the late slope (t >= 10 t_w) has no other window in so short a run
            assert name == "late_slope" and g[f"{name}_band"] == pytest.approx([g[name]] * 2)
            continue
        means = {k: np.mean([e["windows"][k] for e in per_point]) for k in labels}
        vals = [g[name], *means.values()]
        assert g[f"{name}_band"] == pytest.approx([min(vals), max(vals)], rel=1e-9), name
        for k in labels:
            w = [e["windows"][k] for e in per_point]
            half = T975_3 * np.std(w, ddof=1) / math.sqrt(3)
            assert g[f"{name}_windows"][k]["t95"] == pytest.approx([np.mean(w) - half, np.mean(w) + half], rel=1e-9)


def test_groups_carry_n_over_p_c(sweep):
    _, result = sweep
    [g] = result["groups"]
    assert g["C"] == 4 and g["N_over_PC"] == pytest.approx(g["N"] / (200 * 4))  # the tiny task has 4 classes


def test_replica_exponents_over_seeds_with_student_t_intervals(sweep):
    d, result = sweep
    [g] = result["groups"]
    sp = g["spreading"]
    assert sp["n"] == 3 and sp["branch"] == "sampler reshuffle, branch 60 steps (6 epochs)"
    assert set(sp["readings"]) == {replicas.AT_EPOCHS, replicas.BETWEEN}
    for label, rd in sp["readings"].items():
        per_seed = [replicas.analyze_replicas(r["store"])[1]["readings"][label]["gamma"]["value"] for r in result["points"]]
        half = T975_3 * np.std(per_seed, ddof=1) / math.sqrt(3)
        assert rd["gamma"]["value"] == pytest.approx(np.mean(per_seed))
        assert rd["gamma"]["half_width"] == pytest.approx(half)
        lo, hi = rd["gamma"]["interval"]
        assert lo <= np.mean(per_seed) - half + 1e-12 and hi >= np.mean(per_seed) + half - 1e-12
        assert rd["verdict"] in ("diffusive", "confined", "still aging", "undecided")
        assert len(rd["gamma_by_tw"]) == 2


def test_the_sweep_tables_show_the_bands_the_windows_and_the_controls(sweep):
    d, _ = sweep
    res = runner.invoke(app, ["analyze", str(d), "--boot", "20"])
    assert res.exit_code == 0, res.output
    # table titles (the columns' layout is another issue's: they may be cut to fit the width)
    for text in ("N/(P C)", "mu on each fit window", "controls over run.seed (glasslab control)", "R says which"):
        assert text in res.output, text
    import json

    [g] = json.loads(runner.invoke(app, ["analyze", str(d), "--boot", "20", "--json"]).output)["groups"]
    assert {"mu_band", "mu_windows", "mu_late_scaled_band", "late_slope_band", "N_over_PC", "spreading"} <= set(g)


def test_r_over_seeds_with_its_student_t_interval(sweep):
    from glasslab.core.analysis import controls

    d, result = sweep
    [g] = result["groups"]
    per_seed = [controls.analyze_controls(r["store"])[0] for r in result["points"]]
    tw = str(per_seed[0].tw)
    r = [c.late_ratio for c in per_seed]
    half = T975_3 * np.std(r, ddof=1) / math.sqrt(3)
    assert list(g["R"]) == [tw] and g["R"][tw]["n"] == 3
    assert g["R"][tw]["mean"] == pytest.approx(np.mean(r))
    assert g["R"][tw]["t95"] == pytest.approx([np.mean(r) - half, np.mean(r) + half])
    assert g["R_branch"] == "sampler reshuffle, branch 60 steps (6 epochs)"
