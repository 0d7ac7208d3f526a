"""Absurd step counts (issue 31.5): a bound checked before anything is written, a loss log that
grows by blocks instead of being sized by the plan, and a store whose planned steps a resume can
change, older plan-sized stores included."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from glasslab.core.config import presets
from glasslab.core.errors import BadInput
from glasslab.core.records import StepLogged
from glasslab.core.runs import headless
from glasslab.core.store import layout
from glasslab.core.store.reader import Trajectory
from glasslab.core.train.run import Run
from glasslab.tui.cli import app

from support.presets import tiny_toml

runner = CliRunner()


@pytest.mark.parametrize("steps", ["99999999999999999999999", "1000000000000000000", str(presets.MAX_STEPS + 1)])
def test_a_step_count_past_the_bound_is_one_line_before_anything_is_written(tmp_path, steps):
    out = tmp_path / "runs"
    toml = tiny_toml(tmp_path, 200)
    for args in (["--steps", steps], ["--set", f"run.steps={steps}"], ["--detach", "--steps", steps]):
        result = runner.invoke(app, ["run", str(toml), "--no-ui", "--out", str(out), *args])
        assert result.exit_code == 2, result.output
        [line] = result.output.splitlines()
        assert line == f"glasslab: error: run.steps must be <= {presets.MAX_STEPS}, got {steps}", line
    (tmp_path / "big.toml").write_text(toml.read_text().replace("steps = 200", f"steps = {steps}"))
    result = runner.invoke(app, ["run", str(tmp_path / "big.toml"), "--no-ui", "--out", str(out)])
    assert result.exit_code == 2 and "run.steps must be <=" in result.output, result.output
    assert not out.exists()


class StopAt:
    """Stops the run at a step and notes the loss log's size in the store then."""

    def __init__(self, run, path, step):
        self.run, self.path, self.step, self.size = run, path, step, None

    def handle(self, record):
        if isinstance(record, StepLogged) and record.step >= self.step and self.size is None:
            self.size = zarr.open_array(self.path / "loss" / "step", mode="r").shape[0]
            self.run.stop("test stop")


def test_a_huge_plan_no_longer_sizes_the_loss_log_and_a_resume_shortens_it(tiny, tmp_path):
    """10^9 planned steps, log_every 5: the old log held 2 x 10^8 entries from the start (10^18 steps
    asked for 71 PiB when the stop cut the arrays).  Now it starts at LOSS_BLOCK and grows."""
    path = tmp_path / "run.zarr"
    run = Run(tiny(**{"run.steps": 10**9}))
    stop = StopAt(run, path, 100)
    headless.train(run, path, sinks=[stop], signals=False)
    assert stop.size == layout.LOSS_BLOCK, stop.size
    t = Trajectory.open(path)
    assert t.status == "interrupted" and t.attrs["total_steps"] == 10**9
    result = runner.invoke(app, ["resume", str(path), "--steps", "300"])
    assert result.exit_code == 0, result.output
    assert "shortens the run" in result.output
    t = Trajectory.open(path)
    assert t.status == "finished" and t.attrs["total_steps"] == 300 and int(t.steps[-1]) == 300
    steps, _ = t.loss()
    assert np.array_equal(steps, np.arange(5, 301, 5))  # every 5th step, once: none lost, none twice


def test_the_log_grows_past_its_first_block(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "LOSS_BLOCK", 8)  # 8 entries, then 16, 32, 64: three growths in 300 steps
    path = tmp_path / "run.zarr"
    headless.train(Run(tiny(**{"run.steps": 300, "recording.log_every": 5})), path, signals=False)
    steps, values = Trajectory.open(path).loss()
    assert np.array_equal(steps, np.arange(5, 301, 5)) and np.isfinite(values).all()
    assert zarr.open_array(path / "loss" / "step", mode="r").shape == (60,)  # cut to its entries at the end


def test_an_older_store_sized_by_its_plan_is_read_and_resumed_with_fewer_steps(tiny, tmp_path):
    """A store written before the log grew: its log holds plan // log_every entries (here 10^11, as
    for 5 x 10^11 planned steps).  Readers read its committed prefix; a resume with a smaller --steps
    cuts it without listing 2.4 x 10^7 chunks (the old resume allocated the whole tail to clear it)."""
    path = tmp_path / "run.zarr"
    run = Run(tiny(**{"run.steps": 400}))
    headless.train(run, path, sinks=[StopAt(run, path, 100)], signals=False)
    for name in ("step", "value"):
        zarr.open_array(path / "loss" / name, mode="r+").resize((10**11,))  # growing: nothing listed
    root = zarr.open_group(path, mode="r+", use_consolidated=False)
    root.update_attributes({"total_steps": 5 * 10**11})
    before, _ = Trajectory.open(path).loss()
    assert len(before) == Trajectory.open(path).attrs["n_loss"] > 0
    result = runner.invoke(app, ["resume", str(path), "--steps", "300"])
    assert result.exit_code == 0, result.output
    t = Trajectory.open(path)
    assert t.status == "finished" and int(t.steps[-1]) == 300
    assert np.array_equal(t.loss()[0], np.arange(5, 301, 5))
    assert zarr.open_array(path / "loss" / "step", mode="r").shape == (60,)


def test_resume_checks_the_bound_too(tiny, tmp_path):
    path = tmp_path / "run.zarr"
    run = Run(tiny(**{"run.steps": 400}))
    headless.train(run, path, sinks=[StopAt(run, path, 100)], signals=False)
    result = runner.invoke(app, ["resume", str(path), "--steps", "1000000000000000000"])
    assert result.exit_code == 2 and result.output.startswith("glasslab: error: run.steps must be <="), result.output
    with pytest.raises(BadInput, match="run.steps must be <="):
        presets.with_overrides(presets.Preset(name="x"), {"run.steps": 10**18})
