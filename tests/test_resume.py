"""Nothing lost: SIGKILL at random moments, resume, and the run is the run that would have happened."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from glasslab.core import checkpoint, resume, trajectory
from glasslab.core.errors import BadInput

ROOT = Path(__file__).resolve().parent.parent
PRESET = """
[model]
kind = "toy"
width = 32
[data]
name = "synthetic"
shape = [16]
classes = 4
train_size = 400
test_size = 100
[dynamics]
kind = "sgd"
lr = 0.3
batch_size = 20
momentum = 0.5
[recording]
snapshots = 20
first = 5
log_every = 7
[run]
steps = 1500
device = "cpu"
seed = 11
"""


def cli(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kw)


def finish(*args, **kw):
    p = cli(*args, **kw)
    out, err = p.communicate(timeout=300)
    return p.returncode, out, err


@pytest.fixture(scope="module")
def preset_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("preset") / "crash.toml"
    f.write_text(PRESET)
    return f


@pytest.fixture(scope="module")
def reference(preset_file, tmp_path_factory):
    """An uninterrupted run of the same preset and seed, through the same CLI."""
    out = tmp_path_factory.mktemp("ref")
    code, _, err = finish("run", preset_file, "--no-ui", "--out", out)
    assert code == 0, err
    [path] = out.glob("*.zarr")
    t = trajectory.Trajectory.open(path)
    return t.steps, np.asarray(t.weights[: t.n_snapshots]), t.loss()


def _store(out: Path) -> Path:
    found = list(out.glob("*.zarr"))
    return found[0] if found else None


def _wait_for_snapshots(out: Path, k: int, proc, deadline=120):
    end = time.time() + deadline
    while time.time() < end:
        path = _store(out)
        if path is not None:
            try:
                if trajectory.Trajectory.open(path).n_snapshots >= k:
                    return path
            except BadInput:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    raise AssertionError("no snapshots appeared")


def _assert_same_run(path, reference):
    steps, weights, (loss_steps, loss_values) = reference
    t = trajectory.Trajectory.open(path)
    assert t.status == "finished"
    np.testing.assert_array_equal(t.steps, steps)
    stored = np.asarray(t.weights[: t.n_snapshots])
    assert stored.shape == weights.shape
    assert np.array_equal(stored.view(np.uint32), weights.view(np.uint32)), "weights differ bitwise"
    s, v = t.loss()
    np.testing.assert_array_equal(s, loss_steps)
    np.testing.assert_array_equal(v, loss_values)
    assert "resumed" in [e["kind"] for e in t.events]


@pytest.mark.parametrize("k, extra_delay", [(2, 0.0), (6, 0.013), (10, 0.05), (15, 0.002)])
def test_sigkill_then_resume_is_bitwise_identical(preset_file, reference, tmp_path, k, extra_delay):
    proc = cli("run", preset_file, "--no-ui", "--out", tmp_path)
    path = _wait_for_snapshots(tmp_path, k, proc)
    time.sleep(extra_delay)
    proc.kill()
    proc.wait()
    t = trajectory.Trajectory.open(path)
    assert t.status == "running"  # killed: nobody could mark it
    n = t.n_snapshots
    assert np.isfinite(np.asarray(t.weights[:n])).all()  # readable by plain zarr, whole snapshots
    code, _, err = finish("resume", path)
    assert code == 0, err
    _assert_same_run(path, reference)


def test_sigkill_during_a_snapshot_write(preset_file, reference, tmp_path):
    """Killed while writing snapshot 1: only the step-0 snapshot is committed, so the resume starts
    from step 0 (a case the 20-kill stress script caught: the writer took it for a new run)."""
    k = 1
    marker = tmp_path / "in-write"
    proc = cli("run", preset_file, "--no-ui", "--out", tmp_path,
               env={"GLASSLAB_FAULT_PAUSE_AT_SNAPSHOT": str(k), "GLASSLAB_FAULT_MARKER": str(marker)})
    end = time.time() + 120
    while not marker.exists():
        assert time.time() < end and proc.poll() is None
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    path = _store(tmp_path)
    t = trajectory.Trajectory.open(path)
    assert t.n_snapshots == k and int(t.steps[-1]) == 0       # not committed...
    assert np.isfinite(np.asarray(t.weights[k])).all()        # ...though its weights are on disk
    assert np.isnan(t.root["snapshot_step"][k:]).all() or (t.root["snapshot_step"][k:] == -1).all()
    assert np.isfinite(np.asarray(t.weights[:k])).all()
    code, _, err = finish("resume", path)
    assert code == 0, err
    _assert_same_run(path, reference)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_stop_cleanly(preset_file, reference, tmp_path, sig, code):
    proc = cli("run", preset_file, "--no-ui", "--out", tmp_path)
    path = _wait_for_snapshots(tmp_path, 8, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "glasslab resume" in err and "Traceback" not in err
    t = trajectory.Trajectory.open(path)
    assert t.status == "interrupted" and t.events[-1]["kind"] == "interrupted"
    assert not checkpoint.lock_path(path).exists()
    # Resuming is the kill tests' subject (and the console's stop-then-continue test resumes
    # a cleanly stopped run bitwise); here: every snapshot written before the signal is whole.
    n = t.n_snapshots
    assert n >= 8 and np.array_equal(np.asarray(t.weights[:n]).view(np.uint32), reference[1][:n].view(np.uint32))


def test_resume_extends_a_finished_run(preset_file, tmp_path):
    rc, _, err = finish("run", preset_file, "--no-ui", "--out", tmp_path, "--steps", "500")
    assert rc == 0, err
    path = _store(tmp_path)
    with pytest.raises(BadInput, match="already finished"):  # the CLI prints this line, exit 2 (bad_inputs corpus)
        resume.prepare(path)
    assert checkpoint.lock_owner(path) is None  # the refusal released the lock
    before = trajectory.Trajectory.open(path).n_snapshots
    rc, out, err = finish("resume", path, "--steps", "900")
    assert rc == 0, err
    t = trajectory.Trajectory.open(path)
    assert t.status == "finished" and t.steps[-1] == 900 and np.all(np.diff(t.steps) > 0)
    # the summary counts this session's snapshots and the store's
    assert f"{t.n_snapshots - before} (resumed: {t.n_snapshots} in the store)" in out


def test_two_writers_are_refused_and_stale_locks_recognised(tmp_path):
    store = tmp_path / "s.zarr"
    store.mkdir()
    lock = checkpoint.acquire(store)  # this live process holds it
    with pytest.raises(BadInput, match=f"being written by pid {os.getpid()}"):
        checkpoint.acquire(store)
    checkpoint.release(lock)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    checkpoint.lock_path(store).write_text(
        '{"pid": %d, "host": "%s", "since": "then"}' % (dead.pid, os.uname().nodename))
    assert checkpoint.lock_owner(store) is None  # stale: its process is gone
    checkpoint.release(checkpoint.acquire(store))


def test_state_packing_round_trips_exactly():
    import torch
    st = {"a": torch.randn(5, 3), "b": {"gen": torch.Generator().manual_seed(3).get_state(), "pos": 7},
          "np": np.random.get_state(), "py": random.getstate(), "none": None, "half": torch.ones(2, dtype=torch.float16)}
    blob, table = checkpoint.pack(st)
    back = checkpoint.unpack(blob, table)
    assert torch.equal(back["a"], st["a"]) and torch.equal(back["b"]["gen"], st["b"]["gen"])
    assert back["b"]["pos"] == 7 and back["none"] is None and back["half"].dtype == torch.float16
    np.random.set_state(back["np"])
    x = np.random.rand()
    np.random.set_state(st["np"])
    assert x == np.random.rand()
    assert back["py"][1] == st["py"][1]
