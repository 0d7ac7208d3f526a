"""The console follows and steers runs it did not start (Pilot): a `glasslab run --no-ui` in the
background, stopped from the console or from `glasslab stop`; two consoles on one run see the same
switch; a run killed with SIGKILL while followed is shown stale and continued with c."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glasslab.core.runs import live
from glasslab.core.store.reader import Trajectory
from glasslab.tui.app import make_app
from glasslab.tui.cli import app as cli

from support.console import one_torch_thread, reap_runs  # noqa: F401 (fixtures)
from support.pilot import SIZE, press, to_the_runs_screen, wait_for

pytestmark = pytest.mark.usefixtures("one_torch_thread", "reap_runs")

SMALL = ('[model]\nkind = "toy"\nwidth = 16\n[data]\nshape = [8]\nclasses = 4\ntrain_size = 200\ntest_size = 100\n'
         '[dynamics]\nbatch_size = 20\n[recording]\nsnapshots = 30\nfirst = 5\nlog_every = 5\n[run]\nsteps = 10000000\ndevice = "cpu"\n')


@pytest.fixture
def background(tmp_path):
    """`glasslab run small.toml --no-ui` as a process of its own; returns (process, its store once it exists)."""
    procs = []
    preset = tmp_path / "small.toml"
    preset.write_text(SMALL)
    out = tmp_path / "runs"

    def start() -> tuple[subprocess.Popen, Path]:
        before = set(out.glob("*.zarr")) if out.exists() else set()
        proc = subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", "run", str(preset), "--no-ui", "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        deadline = time.monotonic() + 60
        while True:
            new = [p for p in out.glob("*.zarr") if p not in before] if out.exists() else []
            if new and live.describe(new[0]).status == "running":
                return proc, new[0]
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the background run did not start"
            time.sleep(0.05)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=300)


async def test_a_background_run_is_followed_and_stopped_from_the_console(tmp_path, background):
    proc, store = background()
    app = make_app(out_dir=store.parent, follow=store)
    async with app.run_test(size=SIZE) as pilot:
        live_screen = app.live
        await wait_for(pilot, lambda: app.screen is live_screen and live_screen.curves.status == "running"
                       and len(live_screen.curves.eval_steps) >= 3, what="the run followed live")
        step = live_screen.curves.step
        await wait_for(pilot, lambda: live_screen.curves.step > step, what="the step count to grow")
        await press(pilot, "x")
        # The worker's state turns SUCCESS in its thread, before the screen has handled the end
        # (drawn the last records, told the run's answer): wait for what the screen says, not `running`.
        notices = lambda: [str(n.message) for n in app._notifications]  # noqa: E731
        await wait_for(pilot, lambda: any("stop: applied at step" in m for m in notices())
                       and any(" interrupted at step " in m for m in notices()), timeout=300, what="the stop's notices")
        assert not live_screen.running and live_screen.curves.status == "interrupted"
        # Textual drops a notification once its timeout has passed (wall time): keep what was said now.
        said = notices()
    assert proc.wait(timeout=300) == 1  # a stop that is not a signal: exit 1, like any interrupted headless run
    t = Trajectory.open(store)
    assert t.status == "interrupted" and t.events[-1]["reason"] == "stopped in the console"
    assert f"stop: applied at step {t.events[-1]['step']:,}" in said
    assert [int(s) for s in t.steps] == live_screen.curves.eval_steps  # the console drew what the store holds


@pytest.mark.slow
async def test_two_consoles_see_the_same_switch_and_glasslab_stop_ends_the_run(tmp_path, background):
    proc, store = background()
    first, second = make_app(out_dir=store.parent, follow=store), make_app(out_dir=store.parent, follow=store)
    async with first.run_test(size=SIZE) as p1, second.run_test(size=SIZE) as p2:
        for app, pilot in ((first, p1), (second, p2)):
            await wait_for(pilot, lambda: "live" in app._installed_screens and app.live.curves is not None
                           and app.live.curves.status == "running" and app.live.session.started,
                           what="both consoles following")
        new = first.live.session.switch_dynamics(kind="langevin", momentum=0.0, temperature=1e-4)
        assert new.kind == "langevin"
        for app, pilot in ((first, p1), (second, p2)):
            await wait_for(pilot, lambda: app.live.curves.switches, what="the switch in both consoles")
        assert first.live.curves.switches == second.live.curves.switches
        switch = first.live.curves.switches[0]
        assert second.live.curves.dynamics["kind"] == "langevin" and second.live.curves.dynamics["temperature"] == 1e-4

        res = CliRunner().invoke(cli, ["stop", str(store)])
        assert res.exit_code == 0 and "stop applied at step" in res.output, res.output
        for app, pilot in ((first, p1), (second, p2)):
            await wait_for(pilot, lambda: not app.live.running and app.live.curves.status == "interrupted",
                           timeout=300, what="both consoles to see the end")
    proc.wait(timeout=300)
    t = Trajectory.open(store)
    [event] = [e for e in t.events if e["kind"] == "dynamics_changed"]
    assert event["step"] == switch.step and event["new"]["kind"] == "langevin"
    assert t.events[-1]["reason"] == "stopped by glasslab stop"


@pytest.mark.slow
async def test_a_run_killed_while_followed_is_stale_and_c_continues_it(tmp_path, background):
    proc, store = background()
    app = make_app(out_dir=store.parent, follow=store)
    async with app.run_test(size=SIZE) as pilot:
        live_screen = app.live
        await wait_for(pilot, lambda: len(live_screen.curves.eval_steps) >= 3, what="the run followed live")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=300)
        await wait_for(pilot, lambda: live_screen.curves.status == "stale", timeout=300, what="the stale run")
        status = live_screen.query_one("#status-line").content
        assert "stale" in str(status) and f"glasslab resume {store}" in str(status)
        assert live.describe(store).stale
        n = Trajectory.open(store).n_snapshots
        await press(pilot, "c")  # continue it: `glasslab resume`, detached, followed
        await wait_for(pilot, lambda: live_screen.curves.status == "running" and live_screen.session.resume == store,
                       timeout=300, what="the resumed run")
        await wait_for(pilot, lambda: len(live_screen.curves.eval_steps) > n, timeout=300, what="new snapshots")
        await press(pilot, "x")
        await wait_for(pilot, lambda: not live_screen.running, timeout=300, what="the stop")
    t = Trajectory.open(store)
    assert t.status == "interrupted" and [e["kind"] for e in t.events].count("resumed") == 1


async def test_quitting_leaves_the_run_running_by_default_and_says_how_to_follow_it(tmp_path, tiny):
    p = tiny(**{"run.steps": 10_000_000, "recording.snapshots": 30})
    app = make_app(out_dir=tmp_path / "runs", autostart=p)
    async with app.run_test(size=SIZE) as pilot:
        lv = app.live
        await wait_for(pilot, lambda: lv.curves is not None and lv.curves.status == "running", what="the run to train")
        store = lv.session.path
        await press(pilot, "q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmQuit", what="the quit question")
        await press(pilot, "enter")  # the default: leave it running
        await wait_for(pilot, lambda: not app.is_running, what="the console to exit")
    said = app.exit_message or ""
    assert str(store) in said and f"glasslab ps {tmp_path / 'runs'}" in said and "glasslab follow" in said
    assert live.describe(store).alive  # the console is gone, the run is not ...
    deadline = time.monotonic() + 30  # ... and trains on: its process.json says so at its next heartbeat
    while live.describe(store).status != "running":
        assert live.describe(store).alive and time.monotonic() < deadline, live.describe(store)
        time.sleep(0.05)
    res = CliRunner().invoke(cli, ["stop", str(store)])
    assert res.exit_code == 0, res.output
    deadline = time.monotonic() + 30  # the answer comes at the step; the writer thread commits just after
    while Trajectory.open(store).status != "interrupted":
        assert time.monotonic() < deadline, "the stop did not reach the store"
        time.sleep(0.05)


async def test_quitting_with_s_closes_once_the_live_screen_has_read_the_runs_end(tmp_path, tiny, monkeypatch):
    """q then s stops the run and closes the console once the run has ended, and not before the live
    screen has read that end: a small run completes its store and exits within a second, before
    the follower's next read (slowed here to 3 s), and the console used to close on the process's
    exit with the last records unread (its curves still `running`, a fresh clone's make test)."""
    from glasslab.tui.console import session

    p = tiny(**{"run.steps": 10_000_000, "recording.snapshots": 30})
    app = make_app(out_dir=tmp_path / "runs", autostart=p)
    async with app.run_test(size=SIZE) as pilot:
        lv = app.live
        await wait_for(pilot, lambda: lv.curves is not None and len(lv.curves.eval_steps) >= 4, what="the run to train")
        monkeypatch.setattr(session, "POLL_S", 3.0)
        await pilot.pause(0.5)  # the follower now sleeps between reads
        await press(pilot, "q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmQuit", what="the quit question")
        await press(pilot, "s")
        await wait_for(pilot, lambda: not app.is_running, timeout=300, what="the console to close")
    t = Trajectory.open(Path(lv.curves.path))
    assert t.status == "interrupted"
    assert lv.curves.status == "interrupted", (lv.curves.status, lv.curves.message)  # it read the end
    assert lv.curves.eval_steps == [int(s) for s in t.steps]  # and every snapshot before it


async def test_a_console_follows_a_run_that_another_continues_and_offers_no_c_while_it_runs(tmp_path, background):
    """Issue 31.6: console B follows a background run; it is stopped, then continued elsewhere (console
    A's c, here glasslab resume --detach).  B's live screen said `interrupted` for good while the run
    trained, and B's c started a second resume that failed on the lock and showed the run failed."""
    proc, store = background()
    app = make_app(out_dir=store.parent, follow=store)
    async with app.run_test(size=SIZE) as pilot:
        live_screen = app.live
        await wait_for(pilot, lambda: app.screen is live_screen and live_screen.curves.status == "running",
                       what="the run followed live")
        stop = CliRunner().invoke(cli, ["stop", str(store)])
        assert stop.exit_code == 0, stop.output
        await wait_for(pilot, lambda: live_screen.curves.status == "interrupted" and not live_screen.running,
                       what="B to show the stop")
        stopped_at = Trajectory.open(store).events[-1]["step"]
        assert proc.wait(timeout=300) == 1
        again = CliRunner().invoke(cli, ["resume", str(store), "--detach"])
        assert again.exit_code == 0, again.output
        await wait_for(pilot, lambda: live_screen.curves.status == "running" and live_screen.curves.step > stopped_at,
                       what="B to follow the continued run")
        screen, table = await to_the_runs_screen(pilot, 1)
        await press(pilot, "c")
        notices = lambda: [str(n.message) for n in app._notifications]  # noqa: E731
        await wait_for(pilot, lambda: any("is running (pid" in m and "f follows it" in m for m in notices()),
                       what="c refused for a running run")
        assert not any("Continuing" in m for m in notices())
        assert live.describe(store).status == "running"
        CliRunner().invoke(cli, ["stop", str(store)])
    pid = live.describe(store).pid
    if pid and live.describe(store).alive:
        import os
        os.kill(pid, signal.SIGKILL)
