"""Sweeps on this machine through submitit's local executor: the bound K, bitwise stores, a killed
point, a preempted point requeued, a failing point not retried, status / resume / cancel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glasslab.core.store import reader
from glasslab.core.sweep import submit
from glasslab.core.sweep.points import status
from glasslab.tui.cli import app

from support.sweep import (
    assert_bitwise,
    manifest,
    point,
    reference,
    snapshots,
    wait_for,
    write_preset,
)

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """The glasslab CLI in its own process (a local sweep blocks until its points end)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_local_sweep_k2_runs_two_at_once_and_matches_runs_made_here(tmp_path, monkeypatch):
    preset = write_preset(tmp_path)
    out = tmp_path / "sweep"
    # Two GPUs as far as the sweep can tell (the points train on the CPU): each running point gets its own.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    res = runner.invoke(app, ["sweep", str(preset), "--grid", "model.width=4,8", "--grid", "run.seed=0:2",
                              "--parallel", "2", "--threads", "1", "--gpus-per-run", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    m = manifest(out)
    assert [p["state"] for p in m["points"]] == ["finished"] * 4
    assert m["executor"]["parallel"] == 2 and all(p["job_id"].startswith("local:") for p in m["points"])
    # never more than K points at once: every start falls after all but one of the earlier-started ones ended
    spans = sorted((p["started_at"], p["ended_at"], p["gpus"]) for p in m["points"])
    for i, (start, _, gpu) in enumerate(spans):
        overlapping = [g for s, e, g in spans[:i] if e > start]
        assert len(overlapping) <= 1 and gpu not in overlapping, spans
    assert {p["gpus"] for p in m["points"]} == {"0", "1"}
    for p in m["points"]:
        assert_bitwise(out / p["store"], reference(preset, p["overrides"], tmp_path / f"ref{p['id']}.zarr"))
        assert p["summary"]["verdict"] and p["summary"]["final_train_loss"] > 0
    res = runner.invoke(app, ["sweep", "status", str(out)], env={"COLUMNS": "120"})
    assert res.exit_code == 0 and "finished: 4" in res.output and "200 / 200" in res.output, res.output
    res = runner.invoke(app, ["sweep", "resume", str(out)])
    assert res.exit_code == 0 and "nothing to resume" in res.output


@pytest.mark.slow
def test_killed_and_preempted_points_end_bitwise_after_status_and_resume(tmp_path):
    """K = 2, two points.  Point 000 is killed (SIGKILL: nothing saved past its last snapshot);
    point 001 gets submitit's preemption signal (USR2): it stops, its store closes, the requeue
    is recorded, the controller restarts it, and it resumes its own store.  sweep status then
    shows the killed point; sweep resume finishes it.  Both end equal to uninterrupted runs.
    Each point holds at step HOLD (the loop's test hook) until it is signalled or killed: under load
    a point raced to its end before the signal came ("1500 < 1500").  Snapshot 11 is at step 75."""
    preset = write_preset(tmp_path, **{"run.steps": 1500})
    out = tmp_path / "sweep"
    HOLD = 100
    driver = _cli("sweep", str(preset), "--grid", "run.seed=0:2", "--parallel", "2", "--threads", "1", "--out", str(out),
                  env={"GLASSLAB_FAULT_HOLD_AT_STEP": str(HOLD)})  # the requeued point starts there: no hold
    killed, preempted = out / "points" / "000_seed0.zarr", out / "points" / "001_seed1.zarr"

    def both_running():
        return (out.joinpath("sweep.json").exists() and [p["state"] for p in manifest(out)["points"]] == ["running"] * 2
                and snapshots(killed) >= 8 and snapshots(preempted) >= 8)

    wait_for("both points to commit 8 snapshots", both_running)
    first = point(out, 1)
    os.kill(point(out, 0)["pid"], signal.SIGKILL)
    os.kill(first["pid"], signal.SIGUSR2)
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 1, stdout + stderr

    m, rows = status(out)
    assert [r["state"] for r in rows] == ["interrupted", "finished"], rows
    assert "without a result" in rows[0]["reason"] and rows[0]["step"] <= HOLD
    p = point(out, 1)
    assert p["attempts"] == 2 and p["pid"] != first["pid"] and p["job_id"] == first["job_id"]  # same job, requeued
    events = reader.Trajectory.open(preempted).events
    kinds = [e["kind"] for e in events]
    i = kinds.index("requeued")
    assert kinds[i - 1] == "interrupted" and events[i - 1]["reason"] == "preempted" and kinds[i + 1] == "resumed"
    assert events[i - 1]["step"] <= HOLD
    res = runner.invoke(app, ["sweep", "status", str(out)], env={"COLUMNS": "120"})
    assert "interrupted: 1" in res.output and "finished: 1" in res.output

    res = runner.invoke(app, ["sweep", "resume", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    assert "running 1 point(s)" in res.output and [p["state"] for p in manifest(out)["points"]] == ["finished"] * 2
    assert point(out, 0)["attempts"] == 2 and point(out, 1)["attempts"] == 2
    kinds = [e["kind"] for e in reader.Trajectory.open(killed).events]
    assert kinds[0] == "started" and "resumed" in kinds and kinds[-1] == "finished"
    assert_bitwise(killed, reference(preset, {"run.seed": 0}, tmp_path / "ref0.zarr"))
    assert_bitwise(preempted, reference(preset, {"run.seed": 1}, tmp_path / "ref1.zarr"))


def _threads_that_take(pid: int, sig: signal.Signals) -> list[int]:
    """The threads of `pid` other than its main thread that do not block `sig` (from /proc)."""
    tids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
        if int(task.name) != pid and not int(fields["SigBlk"], 16) >> (int(sig) - 1) & 1:
            tids.append(int(task.name))
    return tids


def test_a_preemption_signal_taken_by_another_thread_still_requeues_the_point(tmp_path):
    """The kernel hands a process's signal to any thread that does not block it: to the training
    thread, or to whichever thread wakes first after a SIGSTOP (Slurm's suspend).  The job's main
    thread used to sleep in an untimed join() until the run ended, so the preemption was lost (CI:
    the Slurm test's point 000, frozen while its USR2 came).  Here USR2 goes to a thread other than
    the main one (tgkill) while the point holds at step HOLD: it must still stop, be requeued,
    and end finished, resumed from where it stopped."""
    import ctypes

    preset = write_preset(tmp_path, **{"run.steps": 300})
    out = tmp_path / "sweep"
    HOLD = 100
    driver = _cli("sweep", str(preset), "--grid", "run.seed=0", "--threads", "1", "--out", str(out),
                  env={"GLASSLAB_FAULT_HOLD_AT_STEP": str(HOLD)})
    store = out / "points" / "000_seed0.zarr"
    wait_for("the point to commit 8 snapshots", lambda: out.joinpath("sweep.json").exists()
             and point(out, 0)["state"] == "running" and snapshots(store) >= 8)
    first = point(out, 0)
    [tid, *_] = _threads_that_take(first["pid"], signal.SIGUSR2)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.tgkill(first["pid"], tid, int(signal.SIGUSR2)) == 0, os.strerror(ctypes.get_errno())
    try:
        stdout, stderr = driver.communicate(timeout=300)
    finally:  # the old code never woke up: leave nothing held behind (the driver, submitit's, the point)
        if driver.returncode is None:
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    if str(out).encode() in (proc / "cmdline").read_bytes() or int(proc.name) == driver.pid:
                        os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass
    assert driver.returncode == 0, stdout + stderr
    p = point(out, 0)
    assert p["state"] == "finished" and p["attempts"] == 2 and p["pid"] != first["pid"], p
    events = reader.Trajectory.open(store).events
    kinds = [e["kind"] for e in events]
    i = kinds.index("requeued")
    assert events[i - 1]["reason"] == "preempted" and events[i - 1]["step"] <= HOLD and kinds[i + 1] == "resumed"


@pytest.mark.slow
def test_a_failing_point_is_not_retried_and_cancel_stops_the_rest_cleanly(tmp_path):
    """K = 1, three points in order: 000 diverges (failed, with its reason); 001 runs until
    `sweep cancel` stops it at a step boundary (SIGTERM: its store closes, interrupted); 002 never
    starts.  sweep resume would take 001 and 002 again, never the failed 000."""
    preset = write_preset(tmp_path, **{"model.kind": "fc", "dynamics.momentum": 0.9, "run.steps": 20000})
    out = tmp_path / "sweep"
    driver = _cli("sweep", str(preset), "--grid", "dynamics.lr=1e6,0.05,0.1", "--parallel", "1", "--threads", "1",
                  "--out", str(out))
    wait_for("point 001 to run", lambda: out.joinpath("sweep.json").exists() and point(out, 1)["state"] == "running"
             and snapshots(out / point(out, 1)["store"]) >= 3)
    res = runner.invoke(app, ["sweep", "cancel", str(out)])
    assert res.exit_code == 0 and "1 running point(s) told to stop" in res.output, res.output
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 1 and "not every point finished" in stderr, stdout + stderr
    states = [(p["state"], p["reason"]) for p in manifest(out)["points"]]
    assert states[0][0] == "failed" and "diverged" in states[0][1], states
    assert [s for s, _ in states[1:]] == ["cancelled", "cancelled"], states
    t = reader.Trajectory.open(out / point(out, 1)["store"])
    assert t.status == "interrupted" and t.events[-1]["reason"] == "SIGTERM"  # stopped at a step boundary
    assert not (out / point(out, 2)["store"]).exists()
    assert submit.to_resubmit(manifest(out)) == ["001", "002"]
    res = runner.invoke(app, ["sweep", "status", str(out)], env={"COLUMNS": "120"})
    assert "failed: 1" in res.output and "cancelled: 2" in res.output and "point 000: diverged" in res.output
