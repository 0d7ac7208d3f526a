"""The record <-> store mapping (core/store/codec.py): what the writer stores, a follower reads back."""

import dataclasses
import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.records import (
    DynamicsChanged,
    RunDiverged,
    RunFinished,
    RunInterrupted,
    RunStarted,
)
from glasslab.core.store import codec


def started(**over) -> RunStarted:
    base = dict(name="tiny", preset={"run": {"seed": 3}, "recording": {"log_every": 5}}, n_params=64, train_size=200,
                device="cpu", param_layout=[("0.weight", [4, 8], 0), ("0.bias", [8], 32)],
                snapshot_steps=[0, 5, 12, 30], total_steps=30, waiting_times=[1, 2],
                notes={"D_eval_mode": True, "probe_size": 100}, threads=2)
    base.update(over)
    return RunStarted(**base)


def test_a_run_started_round_trips_through_the_stores_attributes():
    r = started()
    attrs = json.loads(json.dumps(codec.started_attrs(r)))  # as the store holds them: JSON
    back = codec.run_started(attrs)
    assert back == r
    assert attrs["seed"] == 3 and attrs["status"] == "running" and attrs["events"] == [{"step": 0, "kind": "started"}]
    # Format 3: the online t_w as snapshot indices, under a name that says so, and as steps.
    assert attrs["waiting_snapshots"] == [1, 2] and attrs["waiting_time_steps"] == [5, 12] and "waiting_times" not in attrs


def test_a_store_of_format_1_or_2_reads_its_online_waiting_times_as_before():
    attrs = json.loads(json.dumps(codec.started_attrs(started())))
    attrs["waiting_times"] = attrs.pop("waiting_snapshots")  # the name formats 1-2 wrote
    del attrs["waiting_time_steps"]
    assert codec.run_started(attrs).waiting_times == [1, 2]


def test_a_resumed_store_reads_back_as_resumed_at_its_last_resume():
    attrs = codec.started_attrs(started())
    attrs["events"] += [{"step": 12, "kind": "resumed"}, {"step": 20, "kind": "resumed"}]
    back = codec.run_started(attrs)
    assert back.resumed and back.start_step == 20


@pytest.mark.parametrize("end", [RunFinished(30, 1.5), RunInterrupted(12, 0.7, "SIGTERM"),
                                 RunDiverged(7, 0.2, "loss", math.inf)])
def test_every_end_record_round_trips_through_its_event(end):
    event = json.loads(json.dumps(codec.to_event(end)))
    back = codec.end_record(event, {"wall_s": end.wall_s})
    assert back == end


def test_a_dynamics_switch_is_stored_with_both_settings_whole():
    old = DynamicsConfig(kind="sgd", lr=0.1)
    r = DynamicsChanged(40, old, dataclasses.replace(old, kind="gd"))
    event = codec.to_event(r)
    assert event == {"step": 40, "kind": "dynamics_changed", "old": dataclasses.asdict(r.old), "new": dataclasses.asdict(r.new)}
    assert codec.dynamics_changed(json.loads(json.dumps(event))) == r  # and back, typed


def _repo(path: Path, files: dict[str, str]) -> str:
    """A git repository at path with these files in one commit; returns its HEAD."""
    import subprocess

    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": os.environ["PATH"], "HOME": str(path)}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", *cmd], cwd=path, env=env, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_is_glasslabs_own_checkout_only(tmp_path):
    root = Path(codec.__file__).resolve().parents[2]
    own = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    assert codec.git_commit() == own  # this checkout
    # A wheel installed into a venv inside the user's project: the user's commit must not be recorded.
    user = tmp_path / "user"
    _repo(user, {"pyproject.toml": '[project]\nname = "my-study"\n',
                 ".venv/lib/python3.11/site-packages/glasslab/core/__init__.py": ""})
    assert codec.git_commit(user / ".venv/lib/python3.11/site-packages/glasslab/core") is None
    # A user repository with a core/ of its own is not glasslab's checkout either.
    other = tmp_path / "other"
    _repo(other, {"pyproject.toml": '[project]\nname = "my-study"\n', "core/__init__.py": ""})
    assert codec.git_commit(other / "core") is None
    # A copy of glasslab's checkout elsewhere is (its own HEAD).
    clone = tmp_path / "clone"
    head = _repo(clone, {"pyproject.toml": '[project]\nname = "glasslab"\n', "core/__init__.py": ""})
    assert codec.git_commit(clone / "core") == head
