"""A store reached through a symlink is the same store (issue 31.1): its lock, its control folder
and its live-run lookup are found from the resolved path, so `latest.zarr -> runs/X.zarr` (or a
linked runs/ directory) never gets a second writer, and ps / stop / switch / follow see the run."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from glasslab.core.errors import BadInput
from glasslab.core.runs import live, resume
from glasslab.core.store import lock as store_lock
from glasslab.core.store.reader import Trajectory
from glasslab.tui.cli import app

from support.training import Training, wait_until

runner = CliRunner()


@pytest.fixture
def linked(tiny, tmp_path):
    """A live run in runs/run.zarr, a link latest.zarr to it, and a linked parent folder here/ -> runs/."""
    runs = tmp_path / "runs"
    runs.mkdir()
    t = Training(tiny, runs / "run.zarr")
    # A store with a snapshot: before it, resume refuses a store with nothing to resume from, whatever
    # the lock says, and the test would not reach the one-writer check (seen under load).
    wait_until(lambda: (runs / "run.zarr" / "zarr.json").exists() and Trajectory.open(runs / "run.zarr").n_snapshots >= 1,
               "a first snapshot")
    (tmp_path / "latest.zarr").symlink_to(runs / "run.zarr")
    (tmp_path / "here").symlink_to(runs)
    yield t, tmp_path
    if t.thread.is_alive():
        t.finish()


@pytest.mark.parametrize("via", ["latest.zarr", "here/run.zarr"])
def test_a_resume_through_a_link_is_refused_while_the_run_lives(linked, via):
    t, root = linked
    with pytest.raises(BadInput, match="is being written by pid"):
        run, lock = resume.prepare(root / via)
        store_lock.release(lock)  # (only reached by the bug: a second writer)
    assert sorted(p.name for p in root.iterdir()) == ["here", "latest.zarr", "runs"]  # no lock beside the link
    assert t.thread.is_alive() and t.end is None


@pytest.mark.parametrize("via", ["latest.zarr", "here/run.zarr"])
def test_ps_and_describe_find_the_live_run_through_a_link(linked, via):
    t, root = linked
    assert live.describe(root / via).status == "running"
    result = runner.invoke(app, ["ps", str(root / via)])
    assert result.exit_code == 0, result.output
    assert "running" in result.output and "no live runs" not in result.output
    result = runner.invoke(app, ["ps", str(root / "here")])  # a linked directory of runs
    assert result.exit_code == 0 and "running" in result.output, result.output


def test_a_link_beside_its_target_is_listed_once(linked):
    t, root = linked
    (root / "runs" / "latest.zarr").symlink_to(root / "runs" / "run.zarr")
    rows = live.find([root / "runs"])
    assert [r.store.name for r in rows] == ["run.zarr"]


@pytest.mark.parametrize("via", ["latest.zarr", "here/run.zarr"])
def test_stop_and_switch_through_a_link_reach_the_live_run(linked, via):
    t, root = linked
    result = runner.invoke(app, ["switch", str(root / via), "--set", "dynamics.lr=0.25"])
    assert result.exit_code == 0 and "switch applied at step" in result.output, result.output
    result = runner.invoke(app, ["stop", str(root / via)])
    assert result.exit_code == 0 and "stop applied at step" in result.output, result.output
    t.thread.join(timeout=30)
    assert Trajectory.open(root / "runs" / "run.zarr").status == "interrupted"
    wait_until(lambda: live.describe(root / via).status == "interrupted", "the link to read the end")
