"""`glasslab diff` (core/analysis/diff.py, tui/cli/notes.py) on real stores: two tiny runs that differ
in one preset key, one of them switching its dynamics mid-run; checked against a naive walk of the
two presets and against `analyze` of each store."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from glasslab.core.analysis import diff, report
from glasslab.core.records import StepLogged
from glasslab.core.store import layout, reader
from glasslab.core.store import lock as store_lock
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive
from glasslab.tui.cli import app

from support.presets import tiny_preset

runner = CliRunner()
SWITCH_AT = 100


class SwitchAt:
    """A sink that switches the run to Langevin once it has logged step SWITCH_AT."""

    def __init__(self, run):
        self.run, self.done = run, False

    def handle(self, record):
        if isinstance(record, StepLogged) and record.step >= SWITCH_AT and not self.done:
            self.done = True
            self.run.switch_dynamics(kind="langevin", momentum=0.0, temperature=1e-4)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diff")
    a, b = folder / "a.zarr", folder / "b.zarr"
    drive(Run(tiny_preset(**{"run.steps": 300})), [TrajectoryWriter(a)])
    run = Run(tiny_preset(**{"run.steps": 300, "dynamics.lr": 0.2, "run.tags": ["lower-lr"]}))
    drive(run, [TrajectoryWriter(b), SwitchAt(run)])
    return a, b


def naive_differences(x, y, prefix=""):
    """Every dotted key whose values differ, by plain recursion over both dicts."""
    out = set()
    for k in set(x) | set(y):
        vx, vy = x.get(k), y.get(k)
        if isinstance(vx, dict) and isinstance(vy, dict):
            out |= naive_differences(vx, vy, f"{prefix}{k}.")
        elif vx != vy:
            out.add(f"{prefix}{k}")
    return out


def test_only_the_keys_that_differ_and_their_values(pair):
    a, b = pair
    r = diff.compare(a, b, n_boot=20)
    pa, pb = reader.Trajectory.open(a).preset, reader.Trajectory.open(b).preset
    assert {row["key"] for row in r["preset"]} == naive_differences(pa, pb) == {"dynamics.lr", "run.tags"}
    row = next(row for row in r["preset"] if row["key"] == "dynamics.lr")
    assert (row["a"], row["b"]) == (0.5, 0.2)
    assert r["b"]["tags"] == ["lower-lr"] and r["a"]["tags"] == []


def test_the_switch_history_of_each_run(pair):
    a, b = pair
    r = diff.compare(a, b, n_boot=20)
    assert r["switches"]["a"] == []
    [s] = r["switches"]["b"]
    assert s["old"] == "sgd" and s["new"] == "langevin" and s["step"] >= SWITCH_AT
    assert s["changed"]["temperature"] == 1e-4 and s["changed"]["momentum"] == 0.0
    assert s["step"] == next(e["step"] for e in reader.Trajectory.open(b).events if e["kind"] == "dynamics_changed")


def test_provenance_side_by_side_marks_what_differs(pair, tmp_path):
    import shutil

    a, b = pair
    c = tmp_path / "c.zarr"
    shutil.copytree(b, c)
    held = store_lock.acquire(c)  # as a store written on a GPU with another torch
    try:
        layout.commit_attrs(reader.open_group(c, mode="r+"), {"device": "cuda:1", "torch_version": "2.9.0"})
    finally:
        store_lock.release(held)
    rows = {row["key"]: row for row in diff.compare(a, c, n_boot=20)["provenance"]}
    assert not rows["device"]["same"] and (rows["device"]["a"], rows["device"]["b"]) == ("cpu", "cuda:1")
    assert not rows["torch_version"]["same"] and rows["torch_version"]["b"] == "2.9.0"
    assert rows["glasslab_version"]["same"] and rows["n_params"]["same"] and rows["seed"]["same"]


def test_readings_are_analyze_s_numbers_with_their_intervals(pair):
    a, b = pair
    r = diff.compare(a, b, n_boot=20)
    for side, path in (("a", a), ("b", b)):
        ref = report.analyze_store(path, n_boot=20)
        got = r["readings"][side]
        assert got["final"] == ref["final"]
        assert got["final"]["train_loss"] == float(reader.Trajectory.open(path).evals()["train_loss"][-1])
        est = ref["analysis"]["estimates"]["all"]
        assert got["mu"]["value"] == est["value"] and got["mu"]["interval"] == est["interval"]
        assert got["mu"]["interval"][0] <= got["mu"]["value"] <= got["mu"]["interval"][1]
        assert got["late_tw_slope"]["interval"] == ref["analysis"]["estimates"]["late_tw_slope"]["interval"]
        assert got["verdict"] == report.verdict_of(ref)


def test_the_command_prints_the_table_and_the_json(pair):
    a, b = pair
    res = runner.invoke(app, ["diff", str(a), str(b), "--boot", "20"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "dynamics.lr" in out and "run.steps" not in out and "langevin" in out and "mu, all t_w" in out
    assert "interval" in out
    res = runner.invoke(app, ["diff", str(a), str(b), "--boot", "20", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads(json.dumps(diff.compare(a, b, n_boot=20)))


def test_diff_of_what_is_not_a_store_is_one_line_exit_2(pair, tmp_path):
    res = runner.invoke(app, ["diff", str(pair[0]), str(tmp_path)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "not a glasslab run store" in res.stderr
