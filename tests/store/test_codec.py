"""The record <-> store mapping (core/store/codec.py): what the writer stores, a follower reads back."""

import json
import math

import pytest

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


def test_a_dynamics_switch_is_stored_with_both_settings():
    r = DynamicsChanged(40, {"kind": "sgd", "lr": 0.1}, {"kind": "gd", "lr": 0.1})
    assert codec.to_event(r) == {"step": 40, "kind": "dynamics_changed", "old": r.old, "new": r.new}
