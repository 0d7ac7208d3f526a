"""The store's lock on file systems without hard links (issue 31.3): exFAT/vfat and some SMB mounts
refuse link(2) with EPERM, virtiofs and some FUSE mounts with ENOTSUP or ENOSYS, while the directory
is writable.  The lock is then published by an exclusive create and keeps every guarantee of the
linked one (one writer, takeover of a dead writer's lock, fencing); EPERM from link is never called
read-only; where not even an exclusive create works, the run is refused in one line before its
data loads, and `--detach` reports no success.  link() is faked here; every wait is the lock's own
fake clock."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from glasslab.core.errors import BadInput
from glasslab.core.store import lock as store_lock
from glasslab.core.store.reader import Trajectory
from glasslab.tui.cli import app

from support.clock import fake_clock
from support.presets import tiny_toml

runner = CliRunner()
REFUSALS = [errno.EPERM, errno.ENOTSUP, errno.ENOSYS]


@pytest.fixture(params=REFUSALS, ids=[errno.errorcode[e] for e in REFUSALS])
def no_links(request, monkeypatch):
    def link(src, dst, *a, **kw):
        raise OSError(request.param, os.strerror(request.param), str(src), None, str(dst))

    monkeypatch.setattr(os, "link", link)
    return request.param


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_one_writer_without_hard_links(no_links, tmp_path):
    store = tmp_path / "s.zarr"
    store.mkdir()
    lock = store_lock.acquire(store)
    try:
        owner = json.loads(lock.read_text())
        assert owner["pid"] == os.getpid() and owner["start"] == store_lock.process_start(os.getpid())
        with pytest.raises(BadInput, match=f"being written by pid {os.getpid()}.*that process is running"):
            store_lock.acquire(store)
        assert store_lock.held_by_other(lock) is None
    finally:
        store_lock.release(lock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # released, nothing left beside it


def test_a_dead_writers_lock_is_taken_over_and_the_loser_is_fenced(no_links, tmp_path):
    store = tmp_path / "s.zarr"
    store.mkdir()
    path = store_lock.lock_path(store)
    path.write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "since": "then", "token": "old"}))
    lock = store_lock.acquire(store)
    try:
        assert json.loads(lock.read_text())["token"] != "old"
        path.unlink()  # --force by another process: the lock now names it
        path.write_text(json.dumps({"pid": 4242, "host": "node-b", "token": "theirs"}))
        assert store_lock.held_by_other(lock)["pid"] == 4242
    finally:
        store_lock.release(lock)
    assert json.loads(path.read_text())["token"] == "theirs"  # release leaves another's lock alone


def test_a_lock_left_empty_by_a_writer_that_died_before_writing_it_is_stale(no_links, tmp_path, monkeypatch):
    """An exclusive create, then the write: a writer killed between the two leaves an empty lock, which
    is taken over once it has stayed unchanged for MALFORMED_S of this host's clock."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    store_lock.lock_path(store).write_text("")
    clock = fake_clock(monkeypatch)
    lock = store_lock.acquire(store)
    try:
        assert clock[0] >= store_lock.MALFORMED_S
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    finally:
        store_lock.release(lock)


def test_a_lock_being_written_is_held(no_links, tmp_path, monkeypatch):
    """The same empty lock, written by its (live) writer while this host watches: not taken over."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    path = store_lock.lock_path(store)
    path.write_text("")
    live = json.dumps({"pid": os.getpid(), "start": store_lock.process_start(os.getpid()),
                       "host": socket.gethostname(), "since": "now", "token": "writer"})
    fake_clock(monkeypatch, on_sleep=lambda now: path.write_text(live))
    with pytest.raises(BadInput, match="that process is running"):
        store_lock.acquire(store)
    assert json.loads(path.read_text())["token"] == "writer"


def test_an_empty_lock_replaced_while_judged_is_given_back(no_links, tmp_path, monkeypatch):
    """Two empty locks read alike: the takeover compares the file's identity too.  A judged the old
    empty lock stale; meanwhile it was replaced by a fresh empty one (another writer's, being
    written): A renames the fresh one aside, sees another file, and puts it back."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    path = store_lock.lock_path(store)
    path.write_text("")
    calls = []

    def hook(lock):
        calls.append(lock)
        if len(calls) == 1:
            path.unlink()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)  # the other writer's, still empty
            os.close(fd)
            os.utime(path, ns=(10**18, 10**18))

    monkeypatch.setattr(store_lock, "_judged_stale", hook)
    fake_clock(monkeypatch)
    lock = store_lock.acquire(store)  # judged again (the fresh one stays empty too): then taken
    store_lock.release(lock)
    assert len(calls) == 2, "the fresh empty lock was removed as if it were the one judged stale"


def test_a_run_trains_and_resumes_on_a_file_system_without_hard_links(no_links, tmp_path):
    out = tmp_path / "runs"
    result = runner.invoke(app, ["run", str(tiny_toml(tmp_path, 200)), "--no-ui", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "read-only" not in result.output
    [store] = out.glob("*.zarr")
    assert Trajectory.open(store).status == "finished"
    result = runner.invoke(app, ["resume", str(store), "--steps", "300"])
    assert result.exit_code == 0, result.output
    assert Trajectory.open(store).attrs["total_steps"] == 300
    assert not store_lock.lock_path(store).exists()


@pytest.fixture
def no_lock_at_all(no_links, monkeypatch):
    """Nor an exclusive create of the lock (a gateway that refuses O_EXCL)."""
    real = os.open

    def open_(path, flags, *a, **kw):
        if flags & os.O_EXCL and str(path).endswith(store_lock.LOCK_SUFFIX):
            raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP), str(path))
        return real(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", open_)


def test_no_safe_lock_refuses_the_run_before_its_data_loads(no_lock_at_all, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    mnist = tmp_path / "mnist.toml"  # its data is missing: the lock's refusal must come first
    mnist.write_text(tiny_toml(tmp_path, 200).read_text().replace('name = "synthetic"', 'name = "mnist"'))
    for args in (["--no-ui"], ["--detach"]):
        result = runner.invoke(app, ["run", str(mnist), *args, "--out", str(out), "--data-dir", str(tmp_path / "none")])
        assert result.exit_code == 2, result.output
        assert result.stdout == ""  # --detach printed no store as a success
        [line] = result.output.splitlines()
        assert line.startswith("glasslab: error: cannot lock") and "no hard links" in line, line
        assert "read-only" not in line
        assert list(out.iterdir()) == []  # nothing claimed, no process started
