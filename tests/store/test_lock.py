"""The one-writer lock of a run store (core/store/lock.py): two writers refused, a dead or zombie writer's
lock free, another host's lock a lease that its holder renews and that a requeued Slurm job takes over.
(Split from test_resume.py, whose train() and refs fixture these use.)"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glasslab.core.errors import BadInput
from glasslab.core.store import lock as store_lock
from glasslab.core.store import reader

from support.resume import refs, train  # noqa: F401 (refs is a fixture)
from support.clock import fake_clock


def test_two_writers_are_refused_and_stale_locks_recognised(tmp_path):
    store = tmp_path / "s.zarr"
    store.mkdir()
    lock = store_lock.acquire(store)  # this live process holds it
    with pytest.raises(BadInput, match=f"being written by pid {os.getpid()}"):
        store_lock.acquire(store)
    store_lock.release(lock)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store_lock.lock_path(store).write_text(
        '{"pid": %d, "host": "%s", "since": "then"}' % (dead.pid, os.uname().nodename))
    assert store_lock.lock_owner(store) is None  # stale: its process is gone
    store_lock.release(store_lock.acquire(store))


def test_a_writer_that_exited_unreaped_holds_no_lock(tmp_path):
    """A killed writer whose parent (a console) has not reaped it yet is a zombie: gone, as core/runs/live.py
    calls it stale, so its lock is free and `c` can continue the run (the lock once counted it alive)."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        writer.kill()
        stat = Path(f"/proc/{writer.pid}/stat")
        if not stat.parent.exists():
            pytest.skip("no /proc: a zombie cannot be told from a live process here")
        deadline = time.monotonic() + 30
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":  # not reaped: writer.wait() comes last
            assert time.monotonic() < deadline, "the killed writer never became a zombie"
            time.sleep(0.05)
        store_lock.lock_path(store).write_text(
            '{"pid": %d, "host": "%s", "since": "then"}' % (writer.pid, os.uname().nodename))
        assert store_lock.lock_owner(store) is None
        store_lock.release(store_lock.acquire(store))
    finally:
        writer.kill()
        writer.wait()


def test_a_lock_from_another_host_is_a_lease(refs, tmp_path, monkeypatch):
    """Issue 10: a lock taken on another host counted as live forever, so a requeued Slurm job
    (another node) could never resume its own store."""
    from typer.testing import CliRunner

    from glasslab.core.store import lock as lock_mod
    from glasslab.tui.cli import app

    store = tmp_path / "s.zarr"
    train(store, refs[0], stop_at=280)
    path = store_lock.lock_path(store)

    def other_host(age_s, **extra):
        path.write_text(json.dumps({"pid": 4242, "host": "node-17", "since": "then", **extra}))
        t = time.time() - age_s
        os.utime(path, (t, t))

    other_host(5)  # renewed 5 s ago: a live writer elsewhere
    res = CliRunner().invoke(app, ["resume", str(store)])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert re.search(r"pid 4242 on node-17 since then, its lease renewed \d+ s ago.*glasslab resume --force", res.stderr)
    res = CliRunner().invoke(app, ["resume", str(store), "--force"])  # the user knows that writer is gone
    assert res.exit_code == 0 and reader.Trajectory.open(store).status == "finished", res.output
    assert not path.exists()
    other_host(lock_mod.LEASE_S + 1)  # not renewed for a whole lease: its writer is gone
    assert store_lock.lock_owner(store) is None
    fake_clock(monkeypatch)  # the takeover watches the lease for LEASE_S of this host's time first
    store_lock.release(store_lock.acquire(store))
    # The same Slurm job after a requeue (restart count up) takes its own lock over at once.
    other_host(5, job="991", restart=0)
    monkeypatch.setenv("SLURM_JOB_ID", "991")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    lock = store_lock.acquire(store)
    assert json.loads(path.read_text()) | {"since": "x", "token": "t"} == {
        "pid": os.getpid(), "start": store_lock.process_start(os.getpid()), "host": socket.gethostname(),
        "since": "x", "token": "t", "job": "991", "restart": 1}
    store_lock.release(lock)
    other_host(5, job="991", restart=1)  # the same instance elsewhere (an allocation of two nodes): refused
    with pytest.raises(BadInput, match="Slurm job 991"):
        store_lock.acquire(store)



def test_the_holder_renews_its_lease(tmp_path, monkeypatch):
    from glasslab.core.store import lock as lock_mod

    monkeypatch.setattr(lock_mod, "RENEW_S", 0.01)
    store = tmp_path / "s.zarr"
    store.mkdir()
    lock = store_lock.acquire(store)
    try:
        os.utime(lock, (0, 0))  # as if it had not been renewed since 1970
        end = time.time() + 30
        while os.stat(lock).st_mtime < 1 and time.time() < end:
            time.sleep(0.01)  # polling for the renewer thread's touch, bounded
        assert os.stat(lock).st_mtime > time.time() - 60
    finally:
        store_lock.release(lock)
    assert not lock.exists()
