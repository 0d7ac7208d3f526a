"""The control channel (core/runs/control.py): requests answered at a step, refused from other users, and the
CLI commands over it (stop, switch, ps).  Runs train in a thread of the test process with the same
sinks as `glasslab run --no-ui`; the requests come through the files, as from another process."""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import time
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glasslab.core.runs import control, live
from glasslab.core.store.reader import Trajectory
from glasslab.core.train.run import Run
from glasslab.tui.cli import app
from glasslab.tui.console.screens.runs_screen import row_of

from support.training import Training, wait_until

# These tests read the tables' rows as one line each: at a narrow width they come in parts
# (tui/tables.py), so the width is given, not taken from whatever terminal or $COLUMNS runs the suite.
WIDE = {"COLUMNS": "400"}
runner = CliRunner()


@pytest.fixture
def training(tiny, tmp_path):
    runs = []

    def start(**over):
        runs.append(Training(tiny, tmp_path / "run.zarr", **over))
        return runs[-1]

    yield start
    for t in runs:
        if t.thread.is_alive():
            t.finish()


def test_the_channel_is_private_and_describes_its_process(training, tmp_path):
    t = training()
    d = control.control_dir(t.path)
    assert d.name == "run.zarr.control" and (os.stat(d).st_mode & 0o777) == 0o700
    info = control.read_json(d / "process.json")
    assert info["pid"] == os.getpid() and info["uid"] == os.getuid() and info["dynamics"]["kind"] == "sgd"
    assert (os.stat(d / "process.json").st_mode & 0o777) == 0o600
    t.finish()


def test_stop_is_applied_at_a_step_and_the_store_ends_there(training):
    t = training()
    sent = time.monotonic()
    answer = control.wait(t.path, control.send(t.path, "stop", reason="from the test"), timeout=10)
    took = time.monotonic() - sent
    assert answer is not None and answer.applied and answer.step > 0, answer
    t.thread.join(timeout=30)
    assert t.end.step == answer.step and t.end.reason == "from the test"
    s = Trajectory.open(t.path)
    assert s.status == "interrupted" and s.events[-1] == {"step": answer.step, "kind": "interrupted", "reason": "from the test"}
    assert took < 1.0  # request to effect and answer, at this model's step rate
    assert not list(control.control_dir(t.path).glob("req-*"))  # each request is consumed


def test_switch_is_applied_at_the_step_the_store_records_and_a_bad_one_is_refused(training):
    t = training()
    bad = control.wait(t.path, control.send(t.path, "switch", changes={"lr": -1.0}), timeout=10)
    assert bad is not None and not bad.applied and "dynamics.lr must be > 0" in bad.reason
    rid = control.send(t.path, "switch", changes={"kind": "langevin", "momentum": 0.0, "temperature": 1e-4})
    good = control.wait(t.path, rid, timeout=10)
    assert good is not None and good.applied, good
    wait_until(lambda: any(e["kind"] == "dynamics_changed" for e in Trajectory.open(t.path).events), "the event")
    [event] = [e for e in Trajectory.open(t.path).events if e["kind"] == "dynamics_changed"]
    assert event["step"] == good.step and event["new"]["kind"] == "langevin" and event["old"]["kind"] == "sgd"
    wait_until(lambda: control.read_json(control.control_dir(t.path) / "process.json")["dynamics"]["kind"] == "langevin",
               "the heartbeat to report the new dynamics")
    t.finish()


def _plant(d, name, *, uid=None, mode=0o600):
    """A request put into the folder by hand (as another user would)."""
    tmp = d / f".{name}.tmp"
    tmp.write_text('{"id": "x", "action": "stop", "reason": "not yours"}')
    os.chmod(tmp, mode)
    if uid is not None:
        os.chown(tmp, uid, -1)
    os.replace(tmp, d / name)


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_request_from_another_user_is_refused(training):
    t = training()
    d = control.control_dir(t.path)
    _plant(d, "req-1-other.json", uid=65534)  # nobody
    answer = control.wait(t.path, "1-other", timeout=10)
    assert answer is not None and not answer.applied and "belongs to uid 65534" in answer.reason
    assert t.thread.is_alive() and t.end is None  # the run goes on
    t.finish()


def test_a_changed_mode_is_refused(training):
    t = training()
    d = control.control_dir(t.path)
    _plant(d, "req-2-open.json", mode=0o666)  # a request others could have written
    answer = control.wait(t.path, "2-open", timeout=10)
    assert answer is not None and not answer.applied and "mode 0666" in answer.reason
    os.chmod(d, 0o777)  # the folder opened to everyone: every request is refused, and clients refuse to send
    with pytest.raises(Exception, match="mode 0777"):
        control.send(t.path, "stop")
    _plant(d, "req-3-folder.json")
    answer = control.wait(t.path, "3-folder", timeout=10)
    assert answer is not None and not answer.applied and "mode 0777" in answer.reason
    assert t.end is None
    os.chmod(d, 0o700)
    t.finish()


def test_glasslab_stop_and_switch_from_the_command_line(training):
    t = training()
    res = runner.invoke(app, ["switch", str(t.path), "--set", "dynamics.kind=langevin", "--set", "dynamics.temperature=1e-4"])
    assert res.exit_code == 0, res.output
    assert "switch applied at step" in res.output  # momentum 0 was set for the overdamped Langevin
    res = runner.invoke(app, ["switch", str(t.path), "--set", "dynamics.lr=-2"])
    assert res.exit_code == 2 and "dynamics.lr must be > 0" in res.output
    res = runner.invoke(app, ["switch", str(t.path), "--set", "run.steps=5"])
    assert res.exit_code == 2 and "only dynamics" in res.output
    res = runner.invoke(app, ["stop", str(t.path)])
    assert res.exit_code == 0 and "stop applied at step" in res.output, res.output
    t.thread.join(timeout=30)
    assert Trajectory.open(t.path).status == "interrupted"
    res = runner.invoke(app, ["stop", str(t.path)])
    assert res.exit_code == 2 and "not running (it is interrupted)" in res.output


def test_glasslab_switch_follows_the_dialogs_rule_for_a_new_kind_and_echoes_the_dynamics(training):
    """Issue 31 item 11: `glasslab switch --set dynamics.kind=sgd` after Langevin kept momentum 0 and
    T = 1e-6 (the preset has momentum 0.5), where the console's dialog offers the preset's values for a
    new kind, and it printed only "switch applied at step S".  One rule now (dynamics.switch_values),
    applied by the run (the dialog fills its fields by it: test_console_screens), and the resulting
    dynamics echoed in full."""
    t = training()  # tiny_preset: sgd, lr 0.5, B 20, momentum 0.5
    res = runner.invoke(app, ["switch", str(t.path), "--set", "dynamics.kind=langevin", "--set", "dynamics.temperature=1e-6"])
    assert res.exit_code == 0, res.output
    assert "dynamics now: kind=langevin lr=0.5 batch_size=20 momentum=0 weight_decay=0 temperature=1e-06" in res.output
    res = runner.invoke(app, ["switch", str(t.path), "--set", "dynamics.kind=sgd"])
    assert res.exit_code == 0, res.output
    assert "dynamics now: kind=sgd lr=0.5 batch_size=20 momentum=0.5 weight_decay=0 temperature=0" in res.output
    new = t.run.trainer.cfg
    assert (new.kind, new.momentum, new.temperature) == ("sgd", 0.5, 0.0)
    res = runner.invoke(app, ["switch", str(t.path), "--set", "dynamics.lr=0.25"])  # the same kind: only what is given
    assert res.exit_code == 0 and "kind=sgd lr=0.25 batch_size=20 momentum=0.5" in res.output, res.output
    t.finish()


def test_the_runs_table_shows_the_step_a_live_run_is_at_not_its_last_snapshots(training):
    """Issue 31 item 14: the runs screen's step column did not advance while on screen: it showed the
    last snapshot's step, and snapshots are log-spaced (here 10 of them over 10^7 steps)."""
    t = training()
    wait_until(lambda: Trajectory.open(t.path).n_snapshots >= 1, "a first snapshot")

    seen = []

    def past_its_last_snapshot() -> bool:  # a view of the store, and the process's step past that view's last snapshot
        view = Trajectory.open(t.path)
        at = live.describe(t.path).step
        seen[:] = [view, at]
        return at > int(view.steps[-1])

    wait_until(past_its_last_snapshot, "the run to pass its last snapshot")
    view, at = seen
    row = row_of(view)
    assert row.status == "running" and row.step >= at > int(view.steps[-1])
    t.finish()


def test_ps_shows_live_and_stale_runs(training, tmp_path):
    t = training()
    deadline = time.monotonic() + 30  # the time left comes with the first logged steps' heartbeat
    while not math.isfinite(live.describe(t.path).eta_s):
        assert time.monotonic() < deadline, live.describe(t.path)
        time.sleep(0.05)
    res = runner.invoke(app, ["ps", str(tmp_path)], env=WIDE)
    assert res.exit_code == 0 and "run.zarr" in res.output and "running" in res.output and str(os.getpid()) in res.output
    header, row = res.output.splitlines()[:2]
    eta = row.split()[header.split().index("ETA")]
    assert re.fullmatch(r"\d+m\d\ds|\d+h\d\dm|\d+d\d\dh", eta), res.output
    assert row_of(Trajectory.open(t.path)).status == "running"
    t.run.stop("test over")
    t.thread.join(timeout=30)
    assert "no live runs" in runner.invoke(app, ["ps", str(tmp_path)], env=WIDE).output

    # A store still `running` whose process is gone: stale, with the resume hint.
    gone = subprocess.Popen(["true"])
    gone.wait()
    info = control.read_json(control.control_dir(t.path) / "process.json")
    control.write_json(control.control_dir(t.path) / "process.json", {**info, "pid": gone.pid})
    from glasslab.core.store.layout import commit_attrs
    from glasslab.core.store.reader import open_group

    root = open_group(t.path, mode="r+")
    commit_attrs(root, {**dict(root.attrs), "status": "running"})
    row = live.describe(t.path)
    assert row.stale and row.pid == gone.pid
    res = runner.invoke(app, ["ps", str(tmp_path)], env=WIDE)
    assert "stale" in res.output and f"glasslab resume {t.path}" in res.output
    res = runner.invoke(app, ["stop", str(t.path)])
    assert res.exit_code == 2 and "stale" in res.output and "glasslab resume" in res.output
    # The console's runs table says the same, not the store's `running` (issue 12).
    assert row_of(Trajectory.open(t.path)).status == "stale"


def test_run_detach_prints_the_store_and_returns_while_the_run_trains_in_its_own_session(tmp_path):
    preset = tmp_path / "small.toml"
    preset.write_text('[model]\nkind = "toy"\nwidth = 16\n[data]\nshape = [8]\nclasses = 4\ntrain_size = 200\n'
                      'test_size = 100\n[dynamics]\nbatch_size = 20\n[recording]\nsnapshots = 10\nfirst = 5\n'
                      'log_every = 5\n[run]\nsteps = 300\ndevice = "cpu"\n')
    out = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(preset), "--detach", "--out", str(out)])
    assert res.exit_code == 0, res.output
    store = Path(res.stdout.strip().splitlines()[0])
    assert store.parent == out and store.name.startswith("small-") and "glasslab follow" in res.output
    d = control.control_dir(store)
    pid = control.read_json(d / "process.json")["pid"]
    try:
        assert os.getsid(pid) == pid  # its own session: the terminal's hang-up does not reach it
        assert (os.stat(d).st_mode & 0o777) == 0o700 and (os.stat(d / "output.log").st_mode & 0o777) == 0o600
        wait_until(lambda: live.describe(store).status == "finished", "the detached run to finish and exit", timeout=120)
    finally:
        os.waitpid(pid, 0)  # our child here (a shell's would be reaped by init)
    t = Trajectory.open(store)
    assert t.status == "finished" and t.attrs["two_time_complete"] == t.n_snapshots
    assert f"{store}" in (d / "output.log").read_text()  # the headless summary went to the log


def test_a_request_left_from_an_earlier_process_is_refused(training, tmp_path):
    """A stop that reached a store after its run died must not stop the run that resumes it."""
    d = control.make_dir(tmp_path / "run.zarr")
    control.write_json(d / "req-0-old.json", {"id": "0-old", "action": "stop", "reason": "too late", "time": 1.0})
    t = training()
    answer = control.wait(t.path, "0-old", timeout=10)
    assert answer is not None and not answer.applied and "earlier process of this store" in answer.reason
    assert t.end is None and t.thread.is_alive()
    t.finish()


def test_a_request_to_an_earlier_process_is_refused_whatever_its_time(training, tmp_path):
    """The same, from a sender whose clock is ahead: the request names the dead process (pid, start time)
    that process.json named when it was sent, so its time does not matter."""
    d = control.make_dir(tmp_path / "run.zarr")
    control.write_json(d / "process.json", {"pid": 4242, "start": 17, "host": socket.gethostname()})
    rid = control.send(tmp_path / "run.zarr", "stop", reason="too late")
    req = control.read_json(d / f"req-{rid}.json")
    assert req["to"] == {"pid": 4242, "start": 17, "host": socket.gethostname()}
    control.write_json(d / f"req-{rid}.json", {**req, "time": time.time() + 86400})
    t = training()
    answer = control.wait(t.path, rid, timeout=10)
    assert answer is not None and not answer.applied and "earlier process of this store" in answer.reason
    assert t.end is None and t.thread.is_alive()
    t.finish()


@pytest.mark.parametrize("action", ["stop", "switch"])
def test_a_sender_whose_clock_is_behind_the_runs_is_heard(training, monkeypatch, action):
    """Issue 31.4: after an NTP step back, or from a login node whose clock is an hour behind the
    compute node's, `glasslab stop` and the console's x and d were refused as "sent before this
    run's process started" and the run trained on."""
    t = training()
    real = time.time
    behind = types.SimpleNamespace(time=lambda: real() - 3600, time_ns=lambda: time.time_ns() - 3600 * 10**9,
                                   monotonic=time.monotonic, sleep=time.sleep)
    monkeypatch.setattr(control, "time", behind)  # the sender's clock (the run's heartbeat too: harmless)
    changes = {"lr": 0.25} if action == "switch" else None
    answer = control.wait(t.path, control.send(t.path, action, changes=changes, reason="from behind"), timeout=10)
    assert answer is not None and answer.applied, answer
    if action == "stop":
        t.thread.join(timeout=30)
        assert t.end.reason == "from behind"
    else:
        t.finish()


def test_durations_read_alike_everywhere():
    """One format for the ETA of the headless progress, the console's status line and glasslab ps."""
    from glasslab.tui.numbers import duration

    assert [duration(x) for x in (0, 59.6, 245, 3600 * 3 + 7 * 60, 86400 * 2 + 5 * 3600 + 59, math.nan)] == \
        ["0m00s", "1m00s", "4m05s", "3h07m", "2d05h", "?"]


def test_a_resume_that_is_still_starting_is_at_the_stores_step_not_0(tiny, tmp_path):
    """Continue on a stopped run launches a process that loads its data before its control channel
    speaks: until then process.json is the launcher's (step 0), and ps said the run was back at 0."""
    from glasslab.core.config import presets
    from glasslab.core.runs import headless, launch

    path = tmp_path / "r.zarr"
    headless.train(Run(tiny(**{"run.steps": 300})), path, signals=False)
    reached = int(Trajectory.open(path).steps[-1])
    launch.starting(path, os.getpid(), presets.from_stored(dict(Trajectory.open(path).attrs["preset"])))
    row = live.describe(path)
    assert row.status == "starting" and row.step == reached == 300, row


def test_a_run_that_writes_its_store_is_running_before_its_heartbeat_says_so(tiny, tmp_path):
    """CI found it (the hang-up test): the store said running and its step grew, while process.json,
    up to a heartbeat behind, still said "starting", and ps said starting.  A process that holds the
    store's writer lock on a running store is running; one that does not is still starting (a resume
    loading its data), at the store's step either way."""
    import zarr

    from glasslab.core.config import presets
    from glasslab.core.runs import headless, launch
    from glasslab.core.store import lock as store_lock

    path = tmp_path / "r.zarr"
    headless.train(Run(tiny(**{"run.steps": 300})), path, signals=False)
    zarr.open_group(path, mode="r+").update_attributes({"status": "running"})  # as a writer that has it open
    launch.starting(path, os.getpid(), presets.from_stored(dict(Trajectory.open(path).attrs["preset"])))
    held = store_lock.acquire(path)  # this process writes the store
    try:
        row = live.describe(path)
        assert row.status == "running" and row.step == 300, row
    finally:
        store_lock.release(held)
    row = live.describe(path)  # the lock is not this process's: it has not started writing
    assert row.status == "starting" and row.step == 300, row
