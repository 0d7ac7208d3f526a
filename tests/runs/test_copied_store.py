"""A store copied while its run wrote it (`cp -r` of a live run, issue 21 item 6): its root can count
rows that were never written (step -1, NaN weights) and point to a saved state newer than the state
the copy holds.  Readers leave such rows out and name them; resume refuses with one line and marks
nothing (it once restored the old state, "diverged at step 44", and marked the copy diverged)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import zarr

from glasslab.core.analysis import report
from glasslab.core.errors import BadInput
from glasslab.core.runs import resume
from glasslab.core.store import lock as store_lock
from glasslab.core.store import reader

from support.presets import tiny_preset
from support.resume import train


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    path = tmp_path_factory.mktemp("copied") / "run.zarr"
    train(path, tiny_preset(**{"run.steps": 300, "recording.checkpoint_minutes": 0.0}), stop_at=250)
    return path


def copy_of(stopped, tmp_path):
    copy = tmp_path / "copy.zarr"
    shutil.copytree(stopped, copy)
    return copy, zarr.open_group(str(copy), mode="r+", use_consolidated=False)


def test_analyze_leaves_out_and_names_rows_never_written(stopped, tmp_path):
    copy, root = copy_of(stopped, tmp_path)
    n = int(root.attrs["n_snapshots"])
    steps = np.asarray(root["snapshot_step"][:n])
    for i in (n - 3, n - 1):  # committed in the root, never written in the copy
        root["snapshot_step"][i] = -1
        root["weights"][i] = np.full(root["weights"].shape[1], math.nan, dtype=np.float32)
    out = report.analyze_store(copy, n_boot=10)
    assert out["missing_rows"] == [n - 3, n - 1]
    assert out["n_snapshots"] == n - 2
    assert out["last_step"] == int(steps[n - 2])  # the last written one, never -1
    assert report.analyze_store(stopped, n_boot=10)["missing_rows"] == []


def test_the_consoles_analysis_leaves_out_rows_never_written_as_analyze_does(stopped, tmp_path):
    """Issue 28: the runs screen's verdict and analysis pane go through report.analyze_store (read
    as the store stands), so they leave out the rows never written, and agree with `analyze`."""
    from glasslab.core.store import completion
    from glasslab.tui.console.screens.runs_screen import analysis_of

    copy, _ = copy_of(stopped, tmp_path)
    completion.complete_locked(copy)  # the console reads the matrices as stored: complete ones here
    root = zarr.open_group(str(copy), mode="r+", use_consolidated=False)
    n = int(root.attrs["n_snapshots"])
    assert int(root.attrs["two_time_complete"]) == n
    for i in (n - 3, n - 1):
        root["snapshot_step"][i] = -1
        root["weights"][i] = np.full(root["weights"].shape[1], math.nan, dtype=np.float32)
    shown = analysis_of(copy, n_boot=10)
    assert shown["missing_rows"] == [n - 3, n - 1] and shown["analysis"] is not None
    assert -1 not in shown["analysis"]["tw_usable"]
    assert shown["analysis"] == report.analyze_store(copy, n_boot=10)["analysis"]


def test_resume_refuses_a_state_older_than_the_root_announces(stopped, tmp_path):
    copy, root = copy_of(stopped, tmp_path)
    point = dict(root.attrs["resume"])
    at = int(point["step"])
    root.update_attributes({"resume": {**point, "step": at + 52}})  # the root was copied after a later save
    with pytest.raises(BadInput, match=rf"announces a saved state at step {at + 52:,} but holds a state of step {at:,}"):
        resume.prepare(copy)
    assert reader.Trajectory.open(copy).status == "interrupted"  # nothing marked
    assert not store_lock.lock_path(copy).exists()


def test_resume_refuses_unwritten_weights(stopped, tmp_path):
    copy, root = copy_of(stopped, tmp_path)
    n = int(root.attrs["n_snapshots"])
    step = int(root["snapshot_step"][n - 1])
    slot = (n - 1) % 2
    root.update_attributes({"resume": {"slot": slot, "snapshot": n - 1, "step": step, "source": "snapshot"}})
    root["weights"][n - 1] = np.full(root["weights"].shape[1], math.nan, dtype=np.float32)
    with pytest.raises(BadInput, match="but holds (unwritten \\(NaN\\) weights|a state of step)"):
        resume.prepare(copy)
    assert reader.Trajectory.open(copy).status == "interrupted"
