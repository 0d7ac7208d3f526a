"""`glasslab sweep --steps N` (issue 22): every point's run.steps, like `run --steps`; a subcommand refuses it in one line."""

from typer.testing import CliRunner

from glasslab.core.sweep import manifest as mf
from glasslab.tui.cli import app
from glasslab.tui.cli import sweep as sweep_cli


def test_sweep_steps_sets_every_points_steps(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr(sweep_cli, "_launch", lambda d, ids: launched.append((d, ids)))  # the points' runs are not this test's
    out = tmp_path / "sw"
    res = CliRunner().invoke(app, ["sweep", "quickstart", "--grid", "run.seed=0:2", "--steps", "77", "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    [(sweep_dir, ids)] = launched
    m = mf.read(sweep_dir)
    assert len(ids) == 2 and m["preset"]["run"]["steps"] == 77  # the points' common preset
    res = CliRunner().invoke(app, ["sweep", "status", str(out), "--steps", "5"])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1 and "--steps" in res.stderr
