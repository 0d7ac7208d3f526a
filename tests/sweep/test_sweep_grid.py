"""Sweep grids: the one syntax, the [sweep] table, validation before anything is submitted, the manifest lease."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from glasslab.core.errors import BadInput
from glasslab.core.sweep import grid, manifest, submit
from glasslab.core.sweep.points import create, status
from glasslab.tui.cli import app

from support.sweep import write_preset

runner = CliRunner()


@pytest.mark.parametrize("text, values", [
    ("model.width=2,4,8:11", [2, 4, 8, 9, 10]),
    ("run.seed=0:5", [0, 1, 2, 3, 4]),
    ("run.seed=0:10:3", [0, 3, 6, 9]),
    ("dynamics.temperature=1e-10..1e-6x5", [1e-10, 1e-9, 1e-8, 1e-7, 1e-6]),
    ("dynamics.lr=0.01..0.1x2", [0.01, 0.1]),
    ("dynamics.kind=sgd,gd", ["sgd", "gd"]),
    ("dynamics.lr=0.05", [0.05]),
    ("dynamics.minibatch_drift=true,false", [True, False]),
])
def test_axis_syntax(text, values):
    key, got = grid.parse_axis(text)
    assert key == text.split("=")[0] and got == values
    assert all(type(a) is type(b) for a, b in zip(got, values))


@pytest.mark.parametrize("text, words", [
    ("run.seed=5:5", "is empty"),
    ("run.seed=0:4:0", "cannot be 0"),
    ("dynamics.temperature=0..1e-6x5", "lo, hi > 0"),
    ("dynamics.temperature=1e-9..1e-6x1", "n >= 2"),
    ("model.width=2,,4", "empty item"),
    ("model.width=2,2", "twice"),
    ("width=2,4", "section.key"),
    ("modle.width=2", "section.key"),
    ("model.width", "section.key=values"),
])
def test_bad_axes_are_one_clear_error(text, words):
    with pytest.raises(BadInput, match=words):
        grid.parse_axis(text)


def test_sweep_table_in_a_preset_file_and_the_command_line_axis_wins(tmp_path):
    path = write_preset(tmp_path)
    path.write_text(path.read_text() + '\n[sweep]\n"model.width" = [4, 8]\nrun = { seed = "0:3" }\n')
    plan = grid.plan(str(path), None)
    assert plan.axes == {"model.width": [4, 8], "run.seed": [0, 1, 2]}
    assert plan.points[:2] == [{"model.width": 4, "run.seed": 0}, {"model.width": 4, "run.seed": 1}]
    assert [p.model.width for p in plan.resolved] == [4, 4, 4, 8, 8, 8]
    plan = grid.plan(str(path), ["model.width=16"], ["dynamics.lr=0.25"])
    assert [p.model.width for p in plan.resolved] == [16] * 3 and plan.base.dynamics.lr == 0.25
    assert grid.store_name(7, {"model.width": 16, "dynamics.temperature": 1e-9}) == "007_width16_temperature1e-09.zarr"


def test_one_bad_point_fails_before_anything_is_submitted(tmp_path):
    path = write_preset(tmp_path)  # train_size 200: batch_size 400 is impossible for one point only
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(path), "--grid", "dynamics.batch_size=10,400", "--grid", "run.seed=0:2",
                              "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "sweep point 2 (batch_size=400 seed=0)" in lines[0] and "batch_size" in lines[0]
    assert "Traceback" not in res.output and not out.exists()


@pytest.mark.parametrize("args, words", [
    (["--grid", "model.width=4", "--set", "model.width=8"], "both swept"),
    (["--grid", "model.width=4", "--grid", "model.width=8"], "given twice"),
    (["--grid", "model.width=4", "--executor", "pbs"], "not known"),
    (["--grid", "model.width=4", "--parallel", "0"], "--parallel must be >= 1"),
    (["--grid", "model.width=4", "--threads", "0"], "--threads must be 'auto' or a positive whole number, got '0'"),
    (["--grid", "model.width=4", "--threads", "lots"], "--threads must be 'auto' or a positive whole number, got 'lots'"),
    (["--grid", "model.width=4", "--slurm-partition", "gpu"], "need --executor slurm"),
    (["--grid", "model.width=4", "--executor", "slurm", "--time", "soon"], "not a Slurm time"),
    ([], "at least one axis"),
])
def test_bad_options_exit_2_and_create_nothing(tmp_path, args, words):
    path = write_preset(tmp_path)
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(path), "--out", str(out), *args])
    assert res.exit_code == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output
    assert not out.exists()


def test_slurm_needs_sbatch(monkeypatch):
    monkeypatch.setattr(submit.shutil, "which", lambda name: None)
    with pytest.raises(BadInput, match="sbatch is not on PATH"):
        submit.executor_config("slurm", parallel=None, threads=None, gpus_per_run=None, cpus_per_run=None,
                               partition=None, time_limit=None, slurm_extra=None)


@pytest.mark.parametrize("text, minutes", [("90", 90), ("4:00:00", 240), ("0:30", 1), ("1-00:00:00", 1440),
                                           ("2-3", 51 * 60), ("1-0:30", 1470), ("0:00:59", 1)])
def test_slurm_time_limits(text, minutes):
    assert submit.parse_time(text) == minutes


def test_status_of_a_directory_that_is_not_a_sweep(tmp_path):
    res = runner.invoke(app, ["sweep", "status", str(tmp_path)])
    assert res.exit_code == 2 and "is not a sweep directory" in res.stderr


def _bump(sweep_dir: str, n: int) -> None:
    for _ in range(n):
        manifest.update(sweep_dir, lambda m: m.__setitem__("counter", m.get("counter", 0) + 1))


def test_concurrent_manifest_updates_are_not_lost(tmp_path):
    plan = grid.plan(str(write_preset(tmp_path)), ["run.seed=0:2"])
    d = create(plan, tmp_path / "s", {"kind": "local"})
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_bump, args=(str(d), 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * 4
    m = json.loads((d / "sweep.json").read_text())
    assert m["counter"] == 100 and len(m["points"]) == 2
    assert sorted(x.name for x in d.iterdir()) == ["jobs", "points", "sweep.json", "sweep.json.lock"]  # no temp files left


def test_status_reports_points_whose_job_is_gone_as_lost(tmp_path, monkeypatch):
    plan = grid.plan(str(write_preset(tmp_path)), ["run.seed=0:4"])
    d = create(plan, tmp_path / "s", {"kind": "slurm"})
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that has ended
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"  # a stand-in for Slurm's: it knows array task 7_0 only
    squeue.write_text("#!/bin/sh\necho 7_0\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for pid, fields in (("000", {"state": "running", "job_id": f"local:{gone.pid}", "host": socket.gethostname()}),
                        ("001", {"state": "running", "job_id": f"local:{os.getpid()}", "host": socket.gethostname()}),
                        ("002", {"state": "requeued", "job_id": "7_0"}),
                        ("003", {"state": "running", "job_id": "7_1"})):
        manifest.set_point(d, pid, **fields)
    _, rows = status(d)
    assert [r["state"] for r in rows] == ["lost", "running", "requeued", "lost"]
    assert "7_1 is gone" in rows[3]["reason"]
    assert submit.to_resubmit(manifest.read(d)) == ["000", "003"]


def test_threads_auto_is_the_cpus_each_point_gets(tmp_path):
    """--threads N|auto on sweep as on run and resume: auto (the default) leaves each point the CPUs
    it gets; sweep resume given auto goes past the option to its own work."""
    from glasslab.tui.cli.sweep import _thread_count

    assert (_thread_count(None), _thread_count("auto"), _thread_count(" AUTO "), _thread_count("3")) == (None, None, None, 3)
    res = runner.invoke(app, ["sweep", "resume", str(tmp_path / "nothing"), "--threads", "auto"])
    assert res.exit_code == 2 and "--threads" not in res.stderr and "nothing" in res.stderr, res.output


def test_local_points_share_the_cores_and_gpus(monkeypatch):
    monkeypatch.setattr(submit.cpu, "usable_cpus", lambda: 8)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")

    def cfg(**kw):
        base = dict(parallel=None, threads=None, gpus_per_run=None, cpus_per_run=None, partition=None,
                    time_limit=None, slurm_extra=None)
        return submit.executor_config("local", **{**base, **kw})

    assert (cfg(parallel=2)["threads"], cfg(parallel=3)["threads"], cfg(parallel=16)["threads"]) == (4, 2, 1)
    assert cfg(parallel=2, cpus_per_run=3)["threads"] == 3 and cfg(parallel=2, threads=5)["threads"] == 5
    assert cfg(parallel=3)["gpus_per_run"] == 1 and cfg(parallel=4)["gpus_per_run"] == 0  # one each, or none
    with pytest.raises(BadInput, match="needs 4 GPUs"):
        cfg(parallel=2, gpus_per_run=2)


def test_a_second_local_driver_is_refused_while_the_first_lives(tmp_path):
    d = create(grid.plan(str(write_preset(tmp_path)), ["run.seed=0:2"]), tmp_path / "s", {"kind": "local"})
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        manifest.update(d, lambda m: m.__setitem__("driver", {"pid": other.pid, "host": socket.gethostname()}))
        res = runner.invoke(app, ["sweep", "resume", str(d)])
        assert res.exit_code == 2 and f"pid {other.pid}" in res.stderr and "still running this sweep" in res.stderr
        assert [p["state"] for p in manifest.read(d)["points"]] == ["pending"] * 2  # nothing submitted
    finally:
        other.kill()
        other.wait()
    submit.claim_driver(d)  # the first driver is gone: the lease is taken over
    assert manifest.read(d)["driver"]["pid"] == os.getpid()


def test_an_sbatch_refusal_is_one_line_and_leaves_the_points_pending(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"  # a stand-in for Slurm's, refusing as sbatch does for a bad partition
    sbatch.write_text("#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1\n")
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(write_preset(tmp_path)), "--grid", "run.seed=0:2", "--executor", "slurm",
                              "--slurm-partition", "nope", "--out", str(out)])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1, res.output + res.stderr
    assert "Invalid partition name" in res.stderr and "nothing was submitted" in res.stderr
    assert [p["state"] for p in manifest.read(out)["points"]] == ["pending"] * 2
    assert manifest.read(out)["executor"]["partition"] == "nope"
    res = runner.invoke(app, ["sweep", "resume", str(out), "--slurm-partition", "debug", "--time", "2:00:00"])
    assert res.exit_code == 1 and "Invalid partition" in res.stderr  # the stand-in refuses every partition
    cfg = manifest.read(out)["executor"]
    assert cfg["partition"] == "debug" and cfg["time_min"] == 120 and cfg["cpus_per_run"] == 1
