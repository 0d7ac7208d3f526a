"""`glasslab resume --detach` (issue 31.2): a stopped run continues in the background, in its own
session; what the resume would refuse (a live writer, a finished run, --steps not beyond the saved
state) is refused before any process starts, in one line, exit 2, nothing printed as a success."""

from __future__ import annotations

import os
import signal

import pytest
from typer.testing import CliRunner

from glasslab.core.records import StepLogged
from glasslab.core.runs import headless, live
from glasslab.core.store.reader import Trajectory
from glasslab.core.train.run import Run
from glasslab.tui.cli import app

from support.training import Training, wait_until

runner = CliRunner()


class StopAt:
    def __init__(self, run, step):
        self.run, self.step = run, step

    def handle(self, record):
        if isinstance(record, StepLogged) and record.step >= self.step:
            self.run.stop("test stop")


@pytest.fixture
def stopped(tiny, tmp_path):
    """A tiny run of 400 steps stopped at step 100, its state saved there."""
    path = tmp_path / "run.zarr"
    run = Run(tiny(**{"run.steps": 400, "run.threads": 1}))
    headless.train(run, path, sinks=[StopAt(run, 100)], signals=False)
    assert Trajectory.open(path).status == "interrupted"
    return path


def test_resume_detach_continues_a_stopped_run_in_the_background(stopped):
    result = runner.invoke(app, ["resume", str(stopped), "--detach", "--steps", "600"])
    try:
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == str(stopped)
        wait_until(lambda: Trajectory.open(stopped).status == "finished" and not live.describe(stopped).alive,
                   "the detached resume to finish", timeout=180)
    finally:
        row = live.describe(stopped)
        if row.alive and row.pid:
            os.kill(row.pid, signal.SIGKILL)
    t = Trajectory.open(stopped)
    assert t.attrs["total_steps"] == 600 and int(t.steps[-1]) == 600
    assert [e["kind"] for e in t.events] == ["started", "interrupted", "resumed", "finished"]
    assert "resuming at step 100" in (stopped.parent / "run.zarr.control" / "output.log").read_text()


def test_resume_detach_of_a_finished_run_is_refused_before_a_process_starts(stopped):
    assert runner.invoke(app, ["resume", str(stopped), "--detach", "--steps", "50"]).exit_code == 2
    result = runner.invoke(app, ["resume", str(stopped), "--detach", "--steps", "50"])
    assert result.exit_code == 2 and "is not beyond the saved state (step 100)" in result.output
    assert result.stdout == ""  # no store printed as a success
    assert not (stopped.parent / "run.zarr.control" / "output.log").exists()  # no process was started


def test_resume_detach_of_a_live_run_is_refused_before_a_process_starts(tiny, tmp_path):
    t = Training(tiny, tmp_path / "run.zarr")
    try:
        result = runner.invoke(app, ["resume", str(t.path), "--detach"])
        assert result.exit_code == 2, result.output
        assert result.stdout == "" and "being written by pid" in result.output and "\n" == result.output[-1]
        assert len(result.output.strip().splitlines()) == 1
        assert not (tmp_path / "run.zarr.control" / "output.log").exists()
        assert t.thread.is_alive()
    finally:
        t.finish()
