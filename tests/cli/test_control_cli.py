"""`glasslab control RUN`: branches a real run, reports drift or noise, keeps what it trained, refuses bad input in one line."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from glasslab.core.runs import branch, headless
from glasslab.core.store.reader import Trajectory
from glasslab.core.train.run import Run
from glasslab.tui.cli import app

from support.presets import tiny_preset

runner = CliRunner()


def parent(tmp_path, **over):
    path = tmp_path / "parent.zarr"
    headless.train(Run(tiny_preset(**{"run.steps": 300, **over})), path, signals=False)
    return path


def test_control_trains_the_branches_reports_and_keeps_them(tmp_path):
    path = parent(tmp_path)
    res = runner.invoke(app, ["control", str(path), "--at", "100", "--steps", "60", "--replicas", "1"])
    assert res.exit_code == 0, res.output
    found = branch.find(path)
    [tw] = found
    assert set(found[tw]) == {"noise-off", "noise-on", "replica-1"}
    off = Trajectory.open(found[tw]["noise-off"])
    assert off.status == "finished" and off.preset["dynamics"]["kind"] == "gd"
    assert off.preset["run"]["init_from"] == str(path.resolve()) and off.preset["run"]["init_step"] == tw
    assert f"t_w = {tw:,}: " in res.stdout and "Delta_off" in res.stdout and "R = Delta_on / Delta_off" in res.stdout
    again = runner.invoke(app, ["control", str(path), "--at", "100", "--steps", "60", "--json"])
    assert again.exit_code == 0 and "already trained" in again.stderr and "steps of" not in again.stderr
    [row] = json.loads(again.stdout)["controls"]
    assert row["tw"] == tw and row["branch"] == "sampler reshuffle, branch 60 steps (6 epochs)"
    assert "sampler reshuffle, branch 60 steps (6 epochs)" in res.stdout  # every verdict names both
    assert row["tw"] == tw and row["verdict"] in ("drift", "mixed", "noise-driven") and len(row["lags"]) > 3
    # glasslab analyze RUN reports the controls beside the aging numbers, table and JSON alike
    table = runner.invoke(app, ["analyze", str(path), "--boot", "10"])
    assert table.exit_code == 0 and "noise-off control and replicas" in table.stdout and f"t_w = {tw:,}: " in table.stdout
    data = json.loads(runner.invoke(app, ["analyze", str(path), "--boot", "10", "--json"]).stdout)
    assert [c["tw"] for c in data["controls"]] == [tw] and data["controls"][0]["verdict"] == row["verdict"]
    import glasslab

    assert [c["tw"] for c in glasslab.analyze(path, n_boot=10).controls] == [tw]  # the notebook sees them too


def test_replicas_only_leaves_out_the_noise_off_branch_and_reads_the_spreading(tmp_path):
    path = parent(tmp_path)
    res = runner.invoke(app, ["control", str(path), "--at", "100", "--at", "200", "--steps", "60", "--replicas", "2",
                              "--replicas-only"])
    assert res.exit_code == 0, res.output
    found = branch.find(path)
    assert len(found) == 2 and all(set(r) == {"noise-on", "replica-1", "replica-2"} for r in found.values())
    assert "Delta_off" not in res.stdout  # no R without the noise-off branch
    assert "replicas' spreading, sampler reshuffle, branch 60 steps (6 epochs)" in res.stdout
    assert "at epoch multiples: growth exponent" in res.stdout and "between epoch multiples" in res.stdout
    assert "verdict: " in res.stdout
    data = json.loads(runner.invoke(app, ["control", str(path), "--at", "100", "--at", "200", "--steps", "60",
                                          "--replicas", "2", "--replicas-only", "--json"]).stdout)
    assert data["controls"] == [] and len(data["spreading"]) == 2
    assert data["spreading_verdict"]["verdict"] in ("diffusive", "confined", "still aging", "undecided")
    assert len(data["spreading"][0]["distance_by_pair"]) == 3
    res = runner.invoke(app, ["control", str(path), "--at", "100", "--replicas", "0", "--replicas-only"])
    assert res.exit_code == 2 and "--replicas 1 or more" in res.stderr


def test_a_new_steps_trains_the_branches_again_and_says_how_far(tmp_path):
    """The undecided verdict says '--steps N'; following it must train the branches to N, not skip them."""
    path = parent(tmp_path)
    short = runner.invoke(app, ["control", str(path), "--at", "100", "--steps", "15", "--replicas", "0"])
    assert short.exit_code == 0 and "undecided" in short.stdout and "the branch spans 1.5 epoch(s)" in short.stdout
    longer = runner.invoke(app, ["control", str(path), "--at", "100", "--steps", "40", "--replicas", "0"])
    assert longer.exit_code == 0 and "already trained" not in longer.stderr and "40 steps of" in longer.stderr
    [(tw, branches)] = branch.find(path).items()
    assert Trajectory.open(branches["noise-on"]).preset["run"]["steps"] == 40
    assert "undecided" not in longer.stdout.split("\n")[0]


def test_bad_control_input_is_one_line_and_exit_2(tmp_path):
    path = parent(tmp_path)
    for args, expect in [(["--at", "100000"], "lies outside the run's snapshots"),
                         (["--at", "0"], "--at 0 is the initialisation"),
                         (["--steps", "0"], "--steps 0 must be at least 1")]:
        res = runner.invoke(app, ["control", str(path), *args])
        assert res.exit_code == 2 and expect in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output
    res = runner.invoke(app, ["control", str(tmp_path / "nothing.zarr")])
    assert res.exit_code == 2 and "does not exist" in res.stderr
    assert not branch.controls_dir(path).exists()  # nothing trained, nothing written


def test_a_closed_pipe_stops_the_printing_not_the_branches_nor_analyze(tmp_path):
    """`glasslab control RUN | head` with the reader gone, and its stderr gone too (a lost terminal):
    every branch still trains its 40 steps (a branch counts from its t_w), and the command ends as it would have, exit 0, in silence."""
    path = parent(tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", "control", str(path), "--at", "100", "--steps", "40",
                          "--replicas", "1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    p.stderr.close()  # every write, the progress lines and the table, fails with EPIPE
    assert p.wait(timeout=600) == 0
    [tw] = branch.find(path).values()
    assert set(tw) == {"noise-off", "noise-on", "replica-1"}
    for store in tw.values():
        t = Trajectory.open(store)
        assert t.status == "finished" and t.steps[-1] == 40, (store, t.status, t.steps[-1])
    # analyze, as `analyze RUN | head`: the reader is gone before the table; its CSV is still written, exit 0.
    csv = tmp_path / "csv"
    p = subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", "analyze", str(path), "--boot", "10", "--csv", str(csv)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=600) == 0 and "Traceback" not in err, err
    assert any(csv.glob("*.csv"))


def test_a_second_control_on_the_same_run_is_refused_while_the_first_trains_and_clobbers_nothing(tmp_path):
    """Two `glasslab control` on one run: the second removed and rewrote the branch stores the first was
    writing (a branch cut short starts again), so the first died ("Directory not empty") and left a
    branch that was no store.  The branch folder is leased to one control at a time."""
    from filelock import FileLock

    path = parent(tmp_path)
    first = runner.invoke(app, ["control", str(path), "--at", "100", "--steps", "40", "--replicas", "1", "--replicas-only"])
    assert first.exit_code == 0, first.output
    kept = {role: (p / "zarr.json").read_bytes() for role, p in next(iter(branch.find(path).values())).items()}
    held = FileLock(str(branch.controls_dir(path).resolve() / ".control.lock"))
    held.acquire(timeout=0)  # the first control, still training (another file description: flock conflicts)
    try:
        res = runner.invoke(app, ["control", str(path), "--at", "100", "--steps", "60", "--replicas", "1", "--replicas-only"])
    finally:
        held.release()
    assert res.exit_code == 2 and "another glasslab control is training branches" in res.output, res.output
    assert "Traceback" not in res.output
    assert {role: (p / "zarr.json").read_bytes() for role, p in next(iter(branch.find(path).values())).items()} == kept
