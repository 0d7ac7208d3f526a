"""Sweeps through submitit's Slurm executor to a real one-node cluster (tests/support/slurm_cluster.py).

Skipped with the reason where Slurm or munge is not installed; .ci/run installs them.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from typer.testing import CliRunner

from glasslab.core.store import reader
from glasslab.tui.cli import app

from support.slurm_cluster import slurm_cluster  # noqa: F401 - the module fixture
from support.sweep import (
    assert_bitwise,
    manifest,
    point,
    reference,
    snapshots,
    wait_for,
    write_preset,
)

# Under pytest-xdist (make test) every test of the one cluster runs in one worker: a fixture
# is per worker, and two clusters on this host would fight over its ports.
pytestmark = pytest.mark.xdist_group("slurm")

runner = CliRunner()


def _squeue(job_id: str, fmt: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", fmt], capture_output=True, text=True, timeout=60).stdout.strip()


@pytest.mark.slow
def test_slurm_2x2_sweep_with_a_preempted_point_matches_local_runs(slurm_cluster, tmp_path):  # noqa: F811
    """Four points as one job array on the real slurmctld.  Point 000 gets the signal submitit asks
    Slurm to send before a time limit or preemption (USR2, what `scancel --signal` delivers): it
    checkpoints and submitit requeues it.  Point 001 is requeued by `scontrol requeue` (Slurm's
    SIGTERM, then its own restart).  Both restart and resume their stores, with the requeue in
    their events.  Every store ends finished and bitwise equal to the same point run here
    without interruption."""
    # A few seconds a point; the two points signalled are frozen while still training (below), so the
    # signal and the requeue always find them training, whatever the machine's load.
    preset = write_preset(tmp_path, **{"run.steps": 6000})
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(preset), "--grid", "model.width=4,8", "--grid", "run.seed=0:2",
                              "--executor", "slurm", "--cpus-per-run", "1", "--time", "10", "--out", str(out)])
    assert res.exit_code == 0 and "submitted 4 point(s) to Slurm" in res.output, res.output + res.stderr
    ids = [p["job_id"] for p in manifest(out)["points"]]
    assert len(set(ids)) == 4 and all("_" in j for j in ids)  # one array, one task per point

    store, other = out / point(out, 0)["store"], out / point(out, 1)["store"]
    wait_for("points 000 and 001 to run and commit 3 snapshots",
             lambda: [p["state"] for p in manifest(out)["points"][:2]] == ["running"] * 2
             and snapshots(store) >= 3 and snapshots(other) >= 3)
    # Freeze both job processes (this is a one-node cluster: they are on this host) until both signals
    # are on their way: CI's floor run once saw point 001 finish its 6,000 steps between the check
    # above and `scontrol requeue`, and its restart found a finished store with nothing to resume.
    # A stopped process keeps the signals pending; SIGCONT delivers them at once.
    pids = [int(point(out, i)["pid"]) for i in (0, 1)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for path in (store, other):
            status = reader.open_group(path).attrs.get("status")
            assert status == "running", f"{path.name} ended ({status}) before it was frozen: raise run.steps"
        # scancel delivers the signal at once, then keeps retrying while the job is being requeued
        # ("transitional state"): do not wait for it.
        signal_it = subprocess.Popen(["scancel", "--signal=USR2", ids[0]], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        # Point 001 is requeued by the administrator: Slurm sends SIGTERM and restarts the job itself.
        subprocess.run(["scontrol", "requeue", ids[1]], check=True, capture_output=True, timeout=60)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    try:
        wait_for("point 000 to be requeued", lambda: point(out, 0)["state"] == "requeued")
    finally:
        signal_it.kill()
        signal_it.wait()
    # Slurm holds a requeued batch job for about two minutes (reason BeginTime) before it may start
    # again: once it is held, release it.
    for job in ids[:2]:
        wait_for(f"Slurm to hold the requeued job {job}", lambda: _squeue(job, "%r") == "BeginTime")
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, capture_output=True, timeout=60)
    def all_finished():
        states = {p["id"]: (p["state"], p.get("reason")) for p in manifest(out)["points"]}
        failed = {k: v for k, v in states.items() if v[0] == "failed"}
        assert not failed, f"a point failed (a failure never finishes: say so at once): {failed}"
        return all(s == "finished" for s, _ in states.values())

    wait_for("all four points to finish", all_finished, timeout_s=900)

    m = manifest(out)
    assert [p["attempts"] for p in m["points"]] == [2, 2, 1, 1]
    for path, job, reason in ((store, ids[0], "preempted"), (other, ids[1], "SIGTERM")):
        events = reader.Trajectory.open(path).events
        kinds = [e["kind"] for e in events]
        assert kinds.count("requeued") == 1, kinds
        i = kinds.index("requeued")
        assert events[i]["job_id"] == job and events[i - 1]["reason"] == reason and kinds[i + 1] == "resumed", events
    for p in m["points"]:
        assert_bitwise(out / p["store"], reference(preset, p["overrides"], tmp_path / f"ref{p['id']}.zarr"))
    res = runner.invoke(app, ["sweep", "status", str(out)], env={"COLUMNS": "120"})
    assert "finished: 4" in res.output and "slurm" in res.output
