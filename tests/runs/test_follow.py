"""Following a store (core/runs/follow.py): the records a follower reads back while the run trains are the ones
the run yielded (an independent reference: the records themselves, collected beside the writer)."""

from __future__ import annotations

import dataclasses
import math
import threading
import time

from glasslab.core.records import (
    DynamicsChanged,
    RunInterrupted,
    RunStarted,
    SnapshotTaken,
    StepLogged,
    is_end,
)
from glasslab.core.runs import control
from glasslab.core.runs.follow import StoreFollower
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive


class Collect:
    def __init__(self):
        self.records = []

    def handle(self, r):
        self.records.append(r)


def nan_as_none(values) -> tuple:
    """NaN never equals itself (N_Delta is NaN without a hinge loss): compare it as None."""
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in values)


def comparable(records) -> list:
    """What the console draws from each record (weights and resume state stay with the writer)."""
    out = []
    for r in records:
        if isinstance(r, StepLogged):
            out.append(("log", r.step, r.loss))
        elif isinstance(r, SnapshotTaken):
            delta = {i: row["delta"] for i, row in r.displacements.items()}
            out.append(("snap", r.index, r.step, nan_as_none(dataclasses.astuple(r.evaluation)),
                        sorted(r.observables.items()), delta))
        elif isinstance(r, DynamicsChanged):
            out.append(("switch", r.step, r.old.kind, r.new.kind, r.new.temperature))
        elif isinstance(r, RunStarted):
            out.append(("started", r.name, r.n_params, r.total_steps, list(r.snapshot_steps), list(r.waiting_times)))
        else:
            out.append((type(r).__name__, r.step))
    return out


def test_a_follower_reads_the_records_the_run_yielded_while_it_trains(tiny, tmp_path):
    path = tmp_path / "run.zarr"
    run = Run(tiny(**{"run.steps": 3000, "recording.snapshots": 16, "recording.waiting_times": 3}))
    collect = Collect()
    channel_free = threading.Thread(target=lambda: drive(run, [TrajectoryWriter(path), collect]), daemon=True)
    switched = False
    follower, seen, polls = StoreFollower(path), [], 0
    channel_free.start()
    deadline = time.monotonic() + 60
    while follower.ended is None:
        assert time.monotonic() < deadline, "the follower never saw the end"
        got = follower.poll()
        polls += bool(got)
        seen += got
        if not switched and any(isinstance(r, SnapshotTaken) and r.index >= 3 for r in seen):
            run.switch_dynamics(kind="langevin", momentum=0.0, temperature=1e-4)
            switched = True
        time.sleep(0.02)
    channel_free.join(timeout=30)
    assert polls > 2  # it was read in pieces, while the run trained
    assert comparable(seen) == comparable(collect.records)
    assert any(isinstance(r, DynamicsChanged) for r in seen) and is_end(seen[-1])
    assert any(s.displacements for s in seen if isinstance(s, SnapshotTaken))  # Delta(t_w, t) of the online t_w


def test_a_finished_store_replays_in_one_poll_and_then_nothing(run_to_store, tiny):
    path, records = run_to_store(tiny())
    f = StoreFollower(path)
    first = f.poll()
    assert comparable(first) == comparable(records)
    assert f.poll() == [] and f.ended is first[-1]


def test_a_resume_is_followed_from_its_own_start(run_to_store, tiny, tmp_path):
    """after_events: the store still says interrupted until the resumed run commits; not an end."""
    path, _ = run_to_store(tiny(**{"run.steps": 400}))
    from glasslab.core.store.reader import Trajectory

    n = len(Trajectory.open(path).events)
    f = StoreFollower(path, after_events=n)
    assert f.poll() == [] and f.ended is None and not f.started


def test_the_running_loss_is_published_between_snapshots(tiny, tmp_path, monkeypatch):
    """The writer commits the loss log every LIVE_FLUSH_S, not only at snapshots: a follower sees it grow."""
    import glasslab.core.store.writer as writer

    monkeypatch.setattr(writer, "LIVE_FLUSH_S", 0.05)
    path = tmp_path / "run.zarr"
    run = Run(tiny(**{"run.steps": 10_000_000, "recording.snapshots": 3}))  # snapshots at 0, 5 and the end
    t = threading.Thread(target=lambda: drive(run, [TrajectoryWriter(path), control.ControlChannel(path, run)]), daemon=True)
    t.start()
    f = StoreFollower(path)
    logged = []
    deadline = time.monotonic() + 30
    while len({r.step for r in logged}) < 50:
        assert time.monotonic() < deadline, "the running loss did not reach the store"
        logged += [r for r in f.poll() if isinstance(r, StepLogged)]
        time.sleep(0.02)
    run.stop("enough")
    t.join(timeout=30)
    end = [r for r in f.poll() if is_end(r)]
    assert isinstance(end[0], RunInterrupted) and end[0].reason == "enough"
    assert all(math.isfinite(r.loss) for r in logged) and [r.step for r in logged] == sorted({r.step for r in logged})
