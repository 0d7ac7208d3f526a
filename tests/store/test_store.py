"""The Zarr trajectory: the format contract, read back with plain zarr and xarray."""

import threading

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from glasslab.core.errors import BadInput, RunFailed
from glasslab.core.records import SnapshotTaken, StepLogged
from glasslab.core.store import layout, reader
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive

from support.presets import tiny_preset


def test_store_contract_with_plain_zarr(run_to_store):
    path, records = run_to_store(tiny_preset())
    root = zarr.open_group(str(path), mode="r", use_consolidated=False)
    a = root.attrs
    for key in ("glasslab_version", "preset", "seed", "device", "torch_version", "git_commit",
                "n_params", "param_layout", "status", "events"):
        assert key in a, key
    assert a["status"] == "finished" and a["device"] == "cpu" and a["preset"]["model"]["kind"] == "toy"
    assert [e["kind"] for e in a["events"]] == ["started", "finished"]
    n, N = a["n_snapshots"], a["n_params"]
    snaps = [r for r in records if isinstance(r, SnapshotTaken)]
    assert n == len(snaps) and root["weights"].shape == (n, N) and root["weights"].dtype == np.float32
    assert root["weights"].metadata.dimension_names == ("snapshot", "param")
    assert root["weights"].chunks == (1, N)  # one snapshot = whole chunks
    assert root["snapshot_step"].dtype == np.int64
    np.testing.assert_array_equal(root["snapshot_step"][:], [s.step for s in snaps])
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        arr = root[f"evals/{name}"]
        assert arr.dtype == np.float64 and arr.shape == (n,)
        np.testing.assert_array_equal(arr[:], [getattr(s.evaluation, name) for s in snaps])
    logs = [r for r in records if isinstance(r, StepLogged)]
    np.testing.assert_array_equal(root["loss/step"][:], [r.step for r in logs])
    np.testing.assert_array_equal(root["loss/value"][:], [r.loss for r in logs])
    assert root["loss/step"].dtype == np.int64 and root["loss/value"].dtype == np.float64
    for name in ("D", "D_batch", "weight_norm2"):
        arr = root[f"observables/{name}"]
        assert arr.dtype == np.float64 and arr.shape == (n,) and arr.metadata.dimension_names == ("snapshot",)
    for name in ("msd", "overlap", "alpha2", "participation"):
        arr = root[name]
        assert arr.dtype == np.float64 and arr.shape == (n, n) and arr.metadata.dimension_names == ("snapshot_w", "snapshot")
        below = arr[:][np.tril_indices(n, -1)]
        assert np.isnan(below).all()
    assert a["format_version"] == layout.FORMAT_VERSION == 3
    assert a["waiting_snapshots"] and all(0 < i < n for i in a["waiting_snapshots"]) and "waiting_times" not in a
    assert a["waiting_time_steps"] == [a["snapshot_grid"][i] for i in a["waiting_snapshots"]]  # steps, said so
    assert a["D_eval_mode"] is False and a["probe_size"] == 200  # the toy model has no BatchNorm
    # The layout tiles the weight vector exactly.
    total = sum(int(np.prod(shape)) for _, shape, _ in a["param_layout"])
    assert total == N and a["param_layout"][0][2] == 0


def test_stored_weights_are_the_trained_weights(tmp_path):
    run = Run(tiny_preset())
    path = tmp_path / "w.zarr"
    drive(run, [TrajectoryWriter(path)])
    t = reader.Trajectory.open(path)
    last = torch.from_numpy(t.snapshot(-1))
    assert torch.equal(last, run.flat.w.detach())  # the final step is on the grid


def test_xarray_reads_the_store(run_to_store):
    path, _ = run_to_store(tiny_preset())
    ds = xr.open_zarr(path, consolidated=False)
    assert ds["weights"].dims == ("snapshot", "param") and ds["snapshot_step"].dims == ("snapshot",)
    assert ds["msd"].dims == ("snapshot_w", "snapshot")  # format 2: both indices are snapshots
    obs = xr.open_zarr(path, group="observables", consolidated=False)
    assert set(obs.data_vars) == {"D", "D_batch", "weight_norm2"}
    ev = xr.open_zarr(path, group="evals", consolidated=False)
    assert set(ev.data_vars) == {"train_loss", "train_acc", "test_loss", "test_acc", "n_delta"}
    assert ev["train_loss"].dims == ("snapshot",)
    lo = xr.open_zarr(path, group="loss", consolidated=False)
    assert lo["value"].dims == ("log",)


def test_dynamics_switch_lands_in_the_events(tmp_path):
    run = Run(tiny_preset(**{"run.steps": 100}))
    path = tmp_path / "s.zarr"
    writer = TrajectoryWriter(path)

    class Switch:
        def handle(self, r):
            if isinstance(r, StepLogged) and r.step == 40:
                run.switch_dynamics(kind="gd", momentum=0.0)

    drive(run, [writer, Switch()])
    events = reader.Trajectory.open(path).events
    change = [e for e in events if e["kind"] == "dynamics_changed"]
    assert len(change) == 1 and change[0]["step"] == 40 and change[0]["new"]["kind"] == "gd"


def test_diverged_run_keeps_its_good_snapshots(tmp_path):
    run = Run(tiny_preset(**{"model.kind": "fc", "dynamics.lr": 1e6, "dynamics.momentum": 0.9}))
    path = tmp_path / "d.zarr"
    end = drive(run, [TrajectoryWriter(path)])
    t = reader.Trajectory.open(path)
    assert t.status == "diverged" and t.events[-1]["step"] == end.step
    assert t.n_snapshots >= 1 and np.isfinite(t.weights[: t.n_snapshots]).all()


@pytest.mark.slow
def test_readers_during_the_run_never_fail_or_see_a_torn_snapshot(tmp_path):
    """100 reads of a live run through glasslab's reader, xarray and the analysis."""
    from glasslab.core.analysis import report

    path = tmp_path / "live.zarr"
    run = Run(tiny_preset(**{"run.steps": 3000, "recording.snapshots": 60, "model.width": 2048}))
    done = threading.Event()
    counts, problems, analyses = [], [], []

    def read():
        reads = 0
        while not done.is_set() or reads < 100:
            try:
                t = reader.Trajectory.open(path)
            except BadInput:
                if done.is_set():
                    break
                continue  # not created yet
            reads += 1
            n = t.n_snapshots
            w = np.asarray(t.weights[:n])
            if len(t.steps) != n or not np.isfinite(w).all() or (t.steps < 0).any():
                problems.append(("glasslab", n))
            ds = xr.open_zarr(path, consolidated=False)
            rows = np.isfinite(ds["weights"].values)
            if not (rows.all(axis=1) | (~rows).all(axis=1)).all():  # a row is whole or absent
                problems.append(("xarray torn row", n))
            if reads % 20 == 0 and n >= 10:
                analyses.append(report.analyze_store(path, n_boot=10)["n_snapshots"])
            counts.append(n)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        drive(run, [TrajectoryWriter(path)])
    finally:
        done.set()
        thread.join()
    assert not problems, problems[:5]
    assert len(counts) >= 100 and max(counts) > min(counts) and analyses


def test_write_failure_stops_the_run_cleanly(tmp_path, monkeypatch):
    path = tmp_path / "fail.zarr"
    calls = {"n": 0}
    real = layout.write_rows

    def flaky(array, start, rows):
        calls["n"] += 1
        if calls["n"] > 5:  # write_rows writes the weights row: fail at the 6th snapshot
            raise OSError(28, "No space left on device")
        return real(array, start, rows)

    monkeypatch.setattr(layout, "write_rows", flaky)
    run = Run(tiny_preset(**{"run.steps": 5000}))
    with pytest.raises(RunFailed, match="disk full"):
        drive(run, [TrajectoryWriter(path)])
    t = reader.Trajectory.open(path)
    assert t.status == "interrupted" and t.n_snapshots >= 1
    assert np.isfinite(t.weights[: t.n_snapshots]).all()
    assert run.step < 5000  # the run was stopped, not trained to the end


def test_non_stores_are_refused(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(BadInput, match="not a glasslab run store"):
        reader.Trajectory.open(tmp_path / "plain")
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    with pytest.raises(BadInput, match="not a glasslab run store"):
        reader.Trajectory.open(tmp_path / "other.zarr")
    with pytest.raises(BadInput, match="does not exist"):
        reader.Trajectory.open(tmp_path / "nope.zarr")


def test_batched_writes_fall_back_to_plain_writes_without_zarrs_private_sync(run_to_store, monkeypatch, tmp_path):
    """layout.write_many goes through zarr.core.sync (private); where a zarr release moves it, the
    same writes go one by one through the public API, with the same result."""
    path, _ = run_to_store(tiny_preset())
    root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    rows = np.arange(6, dtype=np.float64).reshape(2, 3)
    for fallback in (False, True):
        if fallback:
            monkeypatch.setattr(layout, "private_sync", lambda: None)
        else:
            assert layout.private_sync() is not None  # the installed zarr has it: the fast path runs
        layout.write_many([(root["evals/train_loss"], slice(0, 2), rows[:, 0] + fallback),
                           (root["msd"], (slice(0, 2), slice(0, 3)), rows + fallback)])
        np.testing.assert_array_equal(root["evals/train_loss"][:2], rows[:, 0] + fallback)
        np.testing.assert_array_equal(root["msd"][:2, :3], rows + fallback)
