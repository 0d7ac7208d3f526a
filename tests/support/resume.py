"""Runs to compare resumes against: a reference run, training helpers, and the comparison of two stores."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from glasslab.core.errors import BadInput
from glasslab.core.records import StepLogged
from glasslab.core.runs import resume
from glasslab.core.store import reader
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive

from support.presets import tiny_preset

ROOT = Path(__file__).resolve().parents[2]
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
    t = reader.Trajectory.open(path)
    return t.steps, np.asarray(t.weights[: t.n_snapshots]), t.loss()


def store_of(out: Path) -> Path:
    found = list(out.glob("*.zarr"))
    return found[0] if found else None


def wait_for_snapshots(out: Path, k: int, proc, deadline=120):
    end = time.time() + deadline
    while time.time() < end:
        path = store_of(out)
        if path is not None:
            try:
                if reader.Trajectory.open(path).n_snapshots >= k:
                    return path
            except BadInput:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    raise AssertionError("no snapshots appeared")


HISTORY = ("interrupted", "resumed", "write_failed")  # events of the sessions, not of the trajectory


def differences(path, ref_path) -> list[str]:
    """What differs between a resumed store and the uninterrupted one: weights (bitwise), snapshot
    steps, evals, observables, the loss log, the trajectory's events, the final status.  [] = the same run."""
    t, r = reader.Trajectory.open(path), reader.Trajectory.open(ref_path)
    out = []
    if t.status != r.status:
        out.append(f"status {t.status} != {r.status}")
    if not np.array_equal(t.steps, r.steps):
        out.append("snapshot steps")
    a, b = np.asarray(t.weights[: t.n_snapshots]), np.asarray(r.weights[: r.n_snapshots])
    if a.shape != b.shape or not np.array_equal(a.view(np.uint32), b.view(np.uint32)):
        out.append("weights (bitwise)")
    for name, x in r.evals().items():
        if not np.array_equal(t.evals()[name], x, equal_nan=True):
            out.append(f"evals/{name}")
    for name in ("observables/D", "observables/weight_norm2"):
        if not np.array_equal(t.array(name), r.array(name), equal_nan=True):
            out.append(name)
    (ts, tv), (rs, rv) = t.loss(), r.loss()
    if not (np.array_equal(ts, rs) and np.array_equal(tv, rv)):
        out.append(f"loss log ({len(ts)} entries, {len(rs)} expected)")
    if [e for e in t.events if e["kind"] not in HISTORY] != [e for e in r.events if e["kind"] not in HISTORY]:
        out.append("events")
    return out


def assert_same_run(path, reference):
    steps, weights, (loss_steps, loss_values) = reference
    t = reader.Trajectory.open(path)
    assert t.status == "finished"
    np.testing.assert_array_equal(t.steps, steps)
    stored = np.asarray(t.weights[: t.n_snapshots])
    assert stored.shape == weights.shape
    assert np.array_equal(stored.view(np.uint32), weights.view(np.uint32)), "weights differ bitwise"
    s, v = t.loss()
    np.testing.assert_array_equal(s, loss_steps)
    np.testing.assert_array_equal(v, loss_values)
    assert np.all(np.diff(s) > 0)
    assert "resumed" in [e["kind"] for e in t.events]


# ----------------------------------------------------------------- in process

SWITCH = {"kind": "langevin", "momentum": 0.0, "temperature": 1e-4, "lr": 0.05}


def train(path, preset, *, switch_at=None, stop_at=None, kill_at=None, checkpoint_at=None, run=None):
    """Train into `path`; at these logged steps switch to Langevin, stop (Run.stop), ask for a
    checkpoint (Run.checkpoint), or "kill": the writer is closed without the run's end, which
    leaves the store as a SIGKILL does once the writer has caught up."""
    run = run or Run(preset)
    writer = TrajectoryWriter(path)
    for record in run:
        writer.handle(record)
        if isinstance(record, StepLogged):
            if record.step == switch_at:
                run.switch_dynamics(**SWITCH)
            if record.step == checkpoint_at:
                run.checkpoint()
            if record.step == stop_at:
                run.stop("test")
            if record.step == kill_at:
                break
    writer.close()
    return reader.Trajectory.open(path)


def resume_into(path, **kw):
    run, lock = resume.prepare(path, **kw)
    drive(run, [TrajectoryWriter(path, lock=lock)])
    return run


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """Uninterrupted tiny runs (SGD with momentum), without and with a switch to Langevin at step 60."""
    d = tmp_path_factory.mktemp("refs")
    p = tiny_preset(**{"run.steps": 300, "recording.checkpoint_minutes": 0.0})
    train(d / "plain.zarr", p)
    train(d / "switched.zarr", p, switch_at=60)
    return p, d
