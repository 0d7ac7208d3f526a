"""Nothing lost: stop, preempt or kill a run, resume it, and it is the run that would have happened.

The in-process tests drive tiny runs through the real writer (a "kill" there is the
writer closed without the run's end: the store is left as a SIGKILL leaves it); the
subprocess tests send real signals to `glasslab run`.  tests/stress/kill_resume.py
mixes both at random.
"""

import dataclasses
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from glasslab.core.config.schedule import log_grid
from glasslab.core.errors import BadInput
from glasslab.core.runs import resume
from glasslab.core.store import lock as store_lock
from glasslab.core.store import reader, resume_state
from glasslab.core.train import run as run_mod

from support.resume import (  # noqa: F401 (fixtures among them)
    HISTORY,
    PRESET,
    SWITCH,
    assert_same_run,
    cli,
    differences,
    finish,
    preset_file,
    reference,
    refs,
    resume_into,
    store_of,
    train,
    wait_for_snapshots,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
def test_a_stop_saves_the_state_where_it_stops_and_loses_no_step(refs, tmp_path):
    """Issue 10 case 1: the loss log was duplicated after the last snapshot and its tail lost."""
    p, d = refs
    t = train(tmp_path / "s.zarr", p, stop_at=135)
    assert t.status == "interrupted" and t.steps[-1] < 135
    point = t.attrs["resume"]
    assert (point["step"], point["source"]) == (135, "stop")  # not the last snapshot: zero steps lost
    assert t.root["weights"].shape[0] == t.n_snapshots and t.loss()[0][-1] == 135  # no extra snapshot row
    shorter, lock = resume.prepare(tmp_path / "s.zarr", steps=200)  # a user's --steps below the plan: said, not silent
    store_lock.release(lock)
    assert "note: --steps 200 shortens the run, planned for 300 steps: it ends at step 200" in resume.describe(shorter)
    run = resume_into(tmp_path / "s.zarr")
    assert resume.describe(run)[0] == "resuming at step 135 (saved at stop)"
    assert not any("--steps" in line for line in resume.describe(run))
    assert differences(tmp_path / "s.zarr", d / "plain.zarr") == []
    s, _ = reader.Trajectory.open(tmp_path / "s.zarr").loss()
    assert list(s) == list(range(5, 301, 5))  # 60 entries, strictly increasing, none twice


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_dynamics_switch_survives_a_resume(refs, tmp_path, how):
    """Issue 10 case 2: a resume from before the switch trained on with SGD.  The recorded switch
    is replayed at its step (kill: the saved state lies before it) or is inside the saved state (stop)."""
    p, d = refs
    path = tmp_path / "s.zarr"
    t = train(path, p, switch_at=60, **({"stop_at": 75} if how == "stop" else {"kill_at": 65}))
    if how == "kill":
        assert t.attrs["resume"]["step"] < 60  # the last snapshot lies before the switch
    run = resume_into(path)
    assert not run.replay and run.trainer.cfg.kind == "langevin"
    assert differences(path, d / "switched.zarr") == []
    assert [e["step"] for e in reader.Trajectory.open(path).events if e["kind"] == "dynamics_changed"] == [60]


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
def test_resuming_an_init_from_run_does_not_need_the_source(refs, tmp_path):
    """Issue 10 case 3: exit 2, "... does not exist", once the source store was moved away."""
    p, d = refs
    src = tmp_path / "src.zarr"
    train(src, p)
    lang = p.replace(dynamics=dataclasses.replace(p.dynamics, kind="langevin", momentum=0.0, lr=0.05, temperature=1e-4),
                     run=dataclasses.replace(p.run, init_from=str(src)))
    train(tmp_path / "ref.zarr", lang)
    train(tmp_path / "b.zarr", lang, stop_at=150)
    src.rename(tmp_path / "moved.zarr")
    resume_into(tmp_path / "b.zarr")
    assert differences(tmp_path / "b.zarr", tmp_path / "ref.zarr") == []


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
def test_checkpoints_on_request_and_on_the_wall_clock_bound_what_a_kill_loses(refs, tmp_path, monkeypatch):
    p, d = refs
    # Run.checkpoint(): saved at the next step boundary, and training goes on.
    t = train(tmp_path / "c.zarr", p, checkpoint_at=140, kill_at=150)
    assert t.status == "running" and (t.attrs["resume"]["step"], t.attrs["resume"]["source"]) == (140, "checkpoint")
    assert t.attrs["saves"] == 1 and t.steps[-1] < 140
    run = resume_into(tmp_path / "c.zarr")
    assert resume.describe(run)[0] == "resuming at step 140 (saved at a checkpoint)"
    assert differences(tmp_path / "c.zarr", d / "plain.zarr") == []
    # The cadence, on a fake clock that advances 1 s per reading: 0.1 minutes = every 6 readings.
    clock = iter(range(10**9))
    monkeypatch.setattr(run_mod, "_clock", lambda: float(next(clock)))
    cad = p.replace(recording=dataclasses.replace(p.recording, checkpoint_minutes=0.1))
    t = train(tmp_path / "k.zarr", cad, kill_at=250)
    point = t.attrs["resume"]
    assert point["source"] == "checkpoint" and 250 - 6 <= point["step"] <= 250 and t.attrs["saves"] > 30
    resume_into(tmp_path / "k.zarr")
    assert differences(tmp_path / "k.zarr", d / "plain.zarr") == []


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
def test_the_thread_count_is_recorded_and_reused(refs, tmp_path, monkeypatch):
    """A 1-thread and a 2-thread CPU run differ in the last bit: a resume uses the recorded count
    (not what "auto" would give now) unless --threads says otherwise, and says which."""
    from typer.testing import CliRunner

    from glasslab.tui.cli import app

    p, d = refs
    t = train(tmp_path / "t.zarr", p, stop_at=100)
    assert t.attrs["threads"] == 1 and t.attrs["device"] == "cpu"  # GLASSLAB_THREADS=1 (conftest)
    train(tmp_path / "u.zarr", p, stop_at=290)
    monkeypatch.setenv("GLASSLAB_THREADS", "2")  # what "auto" would resolve to now
    try:
        res = CliRunner().invoke(app, ["resume", str(tmp_path / "t.zarr")])
        assert res.exit_code == 0, res.output
        assert "resuming at step 100 (saved at stop)" in res.output
        assert "threads: 1 (recorded in the store)" in res.output
        assert "step 100 (saved at stop)" in res.output.split("threads: 1")[-1]  # the summary says it too
        assert differences(tmp_path / "t.zarr", d / "plain.zarr") == []
        # Ten steps on two threads: a 2-core machine under load makes two threads slow.
        monkeypatch.setattr(resume, "usable_cpus", lambda: 1)  # as on a smaller machine than the store's
        res = CliRunner().invoke(app, ["resume", str(tmp_path / "u.zarr"), "--threads", "2"])
        assert res.exit_code == 0 and "threads: 2 (--threads)" in res.output, res.output
        assert "note: 2 threads on the 1 CPU(s) this process may use will be slow" in res.output
        assert torch.get_num_threads() == 2
        t = reader.Trajectory.open(tmp_path / "u.zarr")
        assert t.attrs["threads"] == 2 and [e.get("threads") for e in t.events if e["kind"] == "resumed"] == [2]
    finally:
        torch.set_num_threads(1)


# ----------------------------------------------------------------- real signals


@pytest.mark.xdist_group("resume-reference")  # the module fixture built once (make test)
@pytest.mark.parametrize("k, extra_delay", [(2, 0.0), (10, 0.013)])
def test_sigkill_then_resume_is_bitwise_identical(preset_file, reference, tmp_path, k, extra_delay):
    # Held at step 300 if the kill has not come by then (the loop's test hook): the whole run takes a
    # fraction of a second, and on a loaded machine it could end first ("finished" != "running").
    proc = cli("run", preset_file, "--no-ui", "--out", tmp_path, env={"GLASSLAB_FAULT_HOLD_AT_STEP": "300"})
    path = wait_for_snapshots(tmp_path, k, proc)
    time.sleep(extra_delay)
    proc.kill()
    proc.wait()
    t = reader.Trajectory.open(path)
    assert t.status == "running"  # killed: nobody could mark it
    n = t.n_snapshots
    assert np.isfinite(np.asarray(t.weights[:n])).all()  # readable by plain zarr, whole snapshots
    code, _, err = finish("resume", path)
    assert code == 0, err
    assert_same_run(path, reference)


@pytest.mark.xdist_group("resume-reference")  # the module fixture built once (make test)
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
    path = store_of(tmp_path)
    t = reader.Trajectory.open(path)
    assert t.n_snapshots == k and int(t.steps[-1]) == 0       # not committed...
    assert np.isfinite(np.asarray(t.weights[k])).all()        # ...though its weights are on disk
    assert np.isnan(t.root["snapshot_step"][k:]).all() or (t.root["snapshot_step"][k:] == -1).all()
    assert np.isfinite(np.asarray(t.weights[:k])).all()
    code, _, err = finish("resume", path)
    assert code == 0, err
    assert_same_run(path, reference)


def test_every_stop_signal_stops_the_run_by_its_name():
    """SIGHUP (the terminal went away) and SIGUSR1/SIGUSR2 (a scheduler's preemption warning) stop
    like SIGINT and SIGTERM; exit codes 128 + signal number."""
    from glasslab.core.runs.headless import EXIT_SIGNAL, stop_on_signals

    class FakeRun:
        reasons = []

        def stop(self, reason):
            self.reasons.append(reason)

    run = FakeRun()
    sigs = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2]
    before = signal.getsignal(signal.SIGHUP)  # SIG_DFL, or SIG_IGN under nohup
    with stop_on_signals(run):
        for sig in sigs:
            signal.raise_signal(sig)
    assert run.reasons == [s.name for s in sigs]
    assert [EXIT_SIGNAL[s.name] for s in sigs] == [130, 143, 129, 128 + signal.SIGUSR1, 128 + signal.SIGUSR2]
    assert signal.getsignal(signal.SIGHUP) is before  # handlers restored, whatever they were


@pytest.mark.xdist_group("resume-reference")  # the module fixture built once (make test)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_cleanly_saves_where_it_stopped_and_resumes_bitwise(preset_file, reference, tmp_path, sig):
    """SIGINT (Ctrl-C), SIGTERM (scancel, Slurm's preemption), SIGUSR2 (a preemption warning):
    exit 128 + signal, the state saved at the step where it stopped, a resume that loses nothing."""
    # The run (1,500 steps, a fraction of a second) holds at step 100 if the signal has not come by then
    # (the loop's test hook): on a loaded machine it could otherwise end before the signal, and exit 0.
    proc = cli("run", preset_file, "--no-ui", "--out", tmp_path, env={"GLASSLAB_FAULT_HOLD_AT_STEP": "100"})
    path = wait_for_snapshots(tmp_path, 8, proc)  # snapshot 8 is at step 30
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + int(sig), err
    assert "glasslab resume" in err and "Traceback" not in err
    t = reader.Trajectory.open(path)
    assert t.status == "interrupted" and t.events[-1]["kind"] == "interrupted"
    assert not store_lock.lock_path(path).exists()
    stopped = t.events[-1]["step"]
    assert stopped <= 100 and f"stopped by {sig.name} at step {stopped:,}" in err
    if stopped != int(t.steps[-1]):  # (a stop at a snapshot step has that snapshot's state)
        assert (t.attrs["resume"]["step"], t.attrs["resume"]["source"]) == (stopped, "stop")  # 0 steps lost
    code, out, err = finish("resume", path)
    assert code == 0, err
    assert f"resuming at step {stopped:,} (" in out
    assert_same_run(path, reference)


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
def test_resume_extends_a_finished_run(refs, tmp_path):
    from typer.testing import CliRunner

    from glasslab.tui.cli import app

    path = tmp_path / "f.zarr"
    train(path, refs[0])  # finished at step 300
    with pytest.raises(BadInput, match="already finished"):  # the CLI prints this line, exit 2 (bad_inputs corpus)
        resume.prepare(path)
    assert store_lock.lock_owner(path) is None  # the refusal released the lock
    before = reader.Trajectory.open(path).n_snapshots
    res = CliRunner().invoke(app, ["resume", str(path), "--steps", "450"])
    assert res.exit_code == 0, res.output
    t = reader.Trajectory.open(path)
    assert t.status == "finished" and t.steps[-1] == 450 and np.all(np.diff(t.steps) > 0)
    s, _ = t.loss()
    assert list(s) == list(range(5, 451, 5))
    # the summary counts this session's snapshots and the store's
    assert f"{t.n_snapshots - before} (resumed after {before}: {t.n_snapshots} in the store now)" in res.output
    assert "resuming at step 300 (the last snapshot)" in res.output
    assert "note: --steps 450 extends the run, planned for 300 steps: it ends at step 450" in res.output


def test_state_packing_round_trips_exactly():
    import torch
    st = {"a": torch.randn(5, 3), "b": {"gen": torch.Generator().manual_seed(3).get_state(), "pos": 7},
          "np": np.random.get_state(), "py": random.getstate(), "none": None, "half": torch.ones(2, dtype=torch.float16)}
    blob, table = resume_state.pack(st)
    back = resume_state.unpack(blob, table)
    assert torch.equal(back["a"], st["a"]) and torch.equal(back["b"]["gen"], st["b"]["gen"])
    assert back["b"]["pos"] == 7 and back["none"] is None and back["half"].dtype == torch.float16
    np.random.set_state(back["np"])
    x = np.random.rand()
    np.random.set_state(st["np"])
    assert x == np.random.rand()
    assert back["py"][1] == st["py"][1]


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
def test_extending_a_stopped_run_goes_on_taking_snapshots(refs, tmp_path):
    """A new user stopped a run between two snapshots and resumed it with a larger --steps: the new
    grid had a snapshot step between the last snapshot and the stop, already passed, and the run
    waited for it forever: not one snapshot more to the end (the loss log went on)."""
    p, _ = refs
    t = train(tmp_path / "s.zarr", p, stop_at=135)
    last, at = int(t.steps[-1]), 135
    rec = p.recording
    # a total whose grid puts a snapshot step where this run has already been
    total = next(n for n in range(400, 5000, 50)
                 if any(last < s <= at for s in log_grid(rec.first, n, rec.snapshots)))
    run = resume_into(tmp_path / "s.zarr", steps=total)
    t = reader.Trajectory.open(tmp_path / "s.zarr")
    assert t.status == "finished" and int(t.steps[-1]) == total
    new = [int(s) for s in t.steps if s > last]
    assert new and new[0] > at and new == [s for s in log_grid(rec.first, total, rec.snapshots) if s > at]
    assert run.snapshot_steps[:t.n_snapshots] == [int(s) for s in t.steps]


def test_a_run_ended_by_resume_steps_stays_finished(refs, tmp_path):
    """The planned length recorded at the last resume is the run's length (issue 22): a run ended by
    `resume --steps 200` (its preset plans 300) is finished; a plain resume refuses, --steps 250 extends."""
    path = tmp_path / "short.zarr"
    train(path, refs[0], stop_at=100)
    resume_into(path, steps=200)
    assert reader.Trajectory.open(path).status == "finished"
    with pytest.raises(BadInput, match="already finished its 200 steps"):
        resume.prepare(path)
    assert store_lock.lock_owner(path) is None
    run = resume_into(path, steps=250)
    t = reader.Trajectory.open(path)
    assert t.status == "finished" and t.steps[-1] == 250 and run.preset.run.steps == 250


def test_a_plain_resume_keeps_the_length_of_the_last_resume(refs, tmp_path):
    """Stopped again after `resume --steps 200`, a plain resume ends at 200, not at the preset's 300."""
    path = tmp_path / "again.zarr"
    train(path, refs[0], stop_at=100)
    run, lock = resume.prepare(path, steps=200)
    train(path, None, run=run, stop_at=140)
    store_lock.release(lock)
    assert reader.Trajectory.open(path).status == "interrupted"
    run, lock = resume.prepare(path)
    try:
        assert run.preset.run.steps == 200 and run.snapshot_steps[-1] <= 200
        assert not any("note: --steps" in line for line in resume.describe(run))
    finally:
        store_lock.release(lock)


@pytest.mark.xdist_group("resume-refs")  # the module fixture built once (make test)
def test_a_resume_under_other_versions_says_so_and_each_session_records_its_versions(refs, tmp_path, monkeypatch):
    """Issue 31 item 10: a resume under another torch or glasslab version said nothing and recorded
    nothing, although bitwise identity no longer holds.  The first session here runs "torch 2.5.1,
    glasslab 0.0.9" (faked in the store's provenance); the resume notes it, as it notes a device change,
    and its resumed event records its own versions, which the next resume compares against."""
    from glasslab import __version__
    from glasslab.core.store import codec

    p, _ = refs
    path = tmp_path / "s.zarr"
    old = {"glasslab_version": "0.0.9", "torch_version": "2.5.1"}
    with monkeypatch.context() as m:
        m.setattr(codec, "versions", lambda: dict(old))
        t = train(path, p, stop_at=135)
    assert {k: t.attrs[k] for k in old} == old
    run = resume_into(path)
    note = (f"note: the store's last session ran torch 2.5.1, glasslab 0.0.9, this resume runs torch "
            f"{torch.__version__}, glasslab {__version__}: the continuation is not bitwise the uninterrupted run")
    assert note in resume.describe(run)
    t = reader.Trajectory.open(path)
    [resumed] = [e for e in t.events if e["kind"] == "resumed"]
    assert (resumed["torch_version"], resumed["glasslab_version"]) == (torch.__version__, __version__)
    assert {k: t.attrs[k] for k in old} == old  # the root keeps the first session's provenance

    again, lock = resume.prepare(path, steps=400)  # the last session ran these versions: nothing to note
    store_lock.release(lock)
    assert not any("not bitwise" in line for line in resume.describe(again))
