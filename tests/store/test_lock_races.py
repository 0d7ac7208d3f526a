"""The store's lock under races, reused pids, skewed clocks and read-only file systems (issue 21).

Races are made deterministic with the lock's hooks (a pause between judging a lock stale and
taking it over, a fake monotonic clock advanced only by the lock's own waits): no test sleeps
or asserts a timing."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from glasslab.core.errors import BadInput, RunFailed
from glasslab.core.records import StepLogged
from glasslab.core.store import lock as store_lock
from glasslab.core.store import reader
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run

from support.presets import tiny_preset
from support.clock import fake_clock


@pytest.fixture(autouse=True, params=["hard links", "no hard links"])
def links(request, monkeypatch):
    """Every case twice: with hard links, and on a file system without them (issue 31.3: link(2)
    refused with EPERM, as on exFAT; the lock is then published by an exclusive create)."""
    if request.param == "no hard links":
        def link(src, dst, *a, **kw):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(src), None, str(dst))

        monkeypatch.setattr(os, "link", link)
    return request.param


def write_lock(store, **owner):
    path = store_lock.lock_path(store)
    path.write_text(json.dumps({"since": "then", **owner}))
    return path


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid



def test_two_takeovers_of_one_stale_lock_leave_one_writer(tmp_path, monkeypatch):
    """Issue 21.1: A judged the dead writer's lock stale and paused; B took it over; A then deleted
    B's lock (whatever was there) and took it too: two writers.  Now A finds the lock is not the one
    it judged, gives it back, and loses."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    write_lock(store, pid=dead_pid(), host=socket.gethostname())
    paused, go, first = threading.Event(), threading.Event(), []

    def hook(lock):
        if not first:  # only A pauses, between "this lock is stale" and taking it over
            first.append(lock)
            paused.set()
            assert go.wait(60)

    monkeypatch.setattr(store_lock, "_judged_stale", hook)
    result = {}

    def a():
        try:
            result["a"] = store_lock.acquire(store)
        except BadInput as err:
            result["a"] = err

    t = threading.Thread(target=a)
    t.start()
    assert paused.wait(60)
    b = store_lock.acquire(store)  # B judges the same stale lock and takes it over
    go.set()
    t.join(60)
    try:
        assert isinstance(result["a"], BadInput), "both took the lock"
        assert f"being written by pid {os.getpid()} on {socket.gethostname()}" in str(result["a"])
        assert store_lock.held_by_other(b) is None  # B still holds it
    finally:
        store_lock.release(b)
    assert not store_lock.lock_path(store).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]  # nothing left aside


def test_a_reused_pid_does_not_keep_a_dead_writers_lock(tmp_path):
    """Issue 21.2: the writer was killed and a later process got its pid: the lock records the
    writer's start time, so the later process does not hold it (ps and resume agree: stale)."""
    from glasslab.core.runs import live

    store = tmp_path / "s.zarr"
    store.mkdir()
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        start = store_lock.process_start(later.pid)
        if start is None:
            pytest.skip("no /proc: process start times cannot be read here")
        host = socket.gethostname()
        write_lock(store, pid=later.pid, start=start - 1, host=host)  # taken by an earlier process, same pid
        assert store_lock.lock_owner(store) is None
        assert not live.process_alive({"pid": later.pid, "start": start - 1, "host": host})
        store_lock.release(store_lock.acquire(store))
        write_lock(store, pid=later.pid, start=start, host=host)  # that very process: live
        assert store_lock.lock_owner(store)["pid"] == later.pid
        assert live.process_alive({"pid": later.pid, "start": start, "host": host})
        with pytest.raises(BadInput, match="that process is running"):
            store_lock.acquire(store)
    finally:
        later.kill()
        later.wait()


def test_a_skewed_clock_watches_the_lease_before_taking_it(tmp_path, monkeypatch):
    """Issue 21.3: host A's clock runs 200 s ahead of host B's; B's live writer renews its lease every
    RENEW_S.  A's resume took it over at once (the lease looked 200 s old).  Now A watches the lease by
    its own clock: renewed meanwhile, A refuses; never renewed for LEASE_S, A takes it over."""
    monkeypatch.setattr(store_lock, "_host", lambda: "host-a")
    monkeypatch.setattr(store_lock, "_wall", lambda: time.time() + 200)
    store = tmp_path / "s.zarr"
    store.mkdir()
    path = write_lock(store, pid=4242, host="host-b", token="b")  # just renewed, by B's (the server's) clock
    t0 = os.stat(path).st_mtime_ns
    renewed = fake_clock(monkeypatch, on_sleep=lambda now: now >= store_lock.RENEW_S and os.utime(path, ns=(t0, t0 + 10**9)))
    with pytest.raises(BadInput, match="pid 4242 on host-b.*renewed while this host watched it"):
        store_lock.acquire(store)
    assert renewed[0] < store_lock.LEASE_S
    assert json.loads(path.read_text())["token"] == "b"
    clock = fake_clock(monkeypatch)  # B is gone: nothing renews the lease
    lock = store_lock.acquire(store)
    try:
        assert clock[0] >= store_lock.LEASE_S
        assert json.loads(lock.read_text())["host"] == "host-a"
    finally:
        store_lock.release(lock)


def test_a_writer_that_lost_its_lock_stops_and_writes_nothing_more(tmp_path):
    """Issue 21.3, fencing: another process took the lock over (a --force, a skewed takeover): the
    writer checks before each commit, stops with one line and leaves the store as it was."""
    store = tmp_path / "s.zarr"
    run = Run(tiny_preset(**{"recording.checkpoint_minutes": 0.0}))
    writer = TrajectoryWriter(store)
    with pytest.raises(RunFailed) as failed:
        for record in run:
            writer.handle(record)
            if isinstance(record, StepLogged) and record.step == 100:
                writer.queue.join()
                before = dict(reader.Trajectory.open(store).attrs)
                write_lock(store, pid=4242, host="node-b", token="theirs")  # taken over
        writer.close()
    line = str(failed.value)
    assert "\n" not in line
    assert line.startswith("lost the store's lock to pid 4242 on node-b: stopped, nothing after step ")
    assert int(line.rsplit("step ", 1)[1].split()[0]) <= 100
    after = dict(reader.Trajectory.open(store).attrs)
    assert after == before  # not one commit more, not even `interrupted`
    assert json.loads(store_lock.lock_path(store).read_text())["token"] == "theirs"


def test_a_read_only_store_gives_one_line(tmp_path, monkeypatch):
    """Issue 21.7: the lock cannot be created on a read-only file system (tests run as root, where
    chmod does not stop writes: the open fails as it would there)."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    real_open = open

    def read_only(file, mode="r", *a, **kw):
        if "x" in mode or "w" in mode:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", read_only)
    with pytest.raises(store_lock.StoreReadOnly, match="Read-only file system.*read-only here"):
        store_lock.acquire(store)
