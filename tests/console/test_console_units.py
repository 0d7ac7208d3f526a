"""The console's parts without a screen: curves from records and from stores agree, the
record buffer loses nothing, the console sees the very records headless sees, and the CLI
opens the console where it should."""

from __future__ import annotations

import dataclasses
import gc
import math
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from glasslab.core.records import RunInterrupted, SnapshotTaken, StepLogged
from glasslab.core.store.reader import Trajectory
from glasslab.core.train.run import Run, drive
from glasslab.tui.console.curves import RunCurves
from glasslab.tui.console.heap import (
    settle,  # bound at import: the real one (conftest stubs heap.settle)
)
from glasslab.tui.console.session import RecordBuffer, RunSession
from glasslab.tui.console.widgets.log_plot import decade_label, decade_ticks

from support.console import (  # noqa: F401 (fixtures)
    one_torch_thread,
    reap_runs,
    synthetic_records,
    write_store,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def curves_of(records) -> RunCurves:
    c = RunCurves("?")
    for r in records:
        c.apply(r)
    return c


def test_live_curves_and_stored_curves_agree(tmp_path):
    records = synthetic_records("toy-over", switch_at=800)
    live = curves_of(records)
    stored = RunCurves.from_store(Trajectory.open(write_store(tmp_path / "a.zarr", records)))
    for name in ("name", "status", "total_steps", "step", "n_params", "train_size", "snapshot_steps", "eval_steps",
                 "train_loss", "test_loss", "d_steps", "d_values", "loss_steps", "loss_values", "switches", "dynamics"):
        assert getattr(live, name) == getattr(stored, name), name
    # Delta: the records' displacements (by t_w index) and the store's msd matrix give the same curves.
    assert live.delta.keys() == stored.delta.keys() and len(live.delta) == len(live.snapshot_steps) - 1
    for tw in live.delta:
        np.testing.assert_allclose(live.delta[tw], stored.delta[tw], rtol=1e-15)
    assert live.switches[0].step == 800 and live.switches[0].text == "sgd->langevin"


def test_waiting_times_are_log_spaced_and_keep_their_slots():
    records = synthetic_records(total=20000, snapshots=60)
    c = RunCurves("?")
    settled: dict[int, int] = {}
    for r in records:
        c.apply(r)
        for slot, tw in c.waiting_times():
            if settled.get(slot) is not None:
                assert settled[slot] == tw, "a settled curve changed its colour slot"
            if isinstance(r, SnapshotTaken) and r.step > 2 * tw:  # long past: settled
                settled.setdefault(slot, tw)
    shown = c.waiting_times()
    tws = [tw for _, tw in shown]
    assert [slot for slot, _ in shown] == list(range(5)) and tws == sorted(tws)
    assert tws[0] == 10 and tws[-1] <= 10000  # from the first waiting time to half the run
    # Roughly even in log t_w: they are 5 of the 8 log-spaced t_w the engine measures online (the
    # same live and opened, issue 22), so the gaps are 1 or 2 of the plan's, never more uneven.
    assert set(tws) <= set(c.online_tw)
    ratios = np.diff(np.log(tws))
    assert ratios.max() / ratios.min() < 2.05


def test_curves_without_displacements_have_no_delta():
    records = [r for r in synthetic_records()]
    plain = [SnapshotTaken(r.index, r.step, None, r.evaluation, {}) if isinstance(r, SnapshotTaken) else r
             for r in records]
    c = curves_of(plain)
    assert c.delta == {} and c.waiting_times() == [] and c.d_steps == [] and len(c.eval_steps) > 5


def test_decade_ticks():
    assert decade_label(3) == "10³" and decade_label(-12) == "10⁻¹²" and decade_label(0) == "10⁰"
    assert decade_ticks(0.3, 2.7, 10) == ((0, 3), [0, 1, 2, 3], ["10⁰", "10¹", "10²", "10³"])
    assert decade_ticks(-4.2, -3.9, 10)[0] == (-5, -3)
    assert decade_ticks(2.0, 2.0, 10)[0] == (2, 3)  # one point still spans a decade
    (lo, hi), ticks, _ = decade_ticks(-10, 10, 5)
    assert (lo, hi) == (-10, 10) and len(ticks) <= 6 and ticks[0] == -10


def test_the_buffer_loses_nothing():
    buf = RecordBuffer()
    snap = next(r for r in synthetic_records() if isinstance(r, SnapshotTaken))
    n = 20000

    def produce():
        for i in range(n):
            buf.handle(StepLogged(i, 0.0, 1.0) if i % 100 else snap)

    thread = threading.Thread(target=produce)
    thread.start()
    got = []
    while thread.is_alive() or got == [] or len(got) < n:
        got += buf.drain()
        if not thread.is_alive() and len(got) == n:
            break
    thread.join()
    got += buf.drain()
    assert len(got) == n
    assert [getattr(r, "step", None) for r in got if isinstance(r, StepLogged)] == [i for i in range(n) if i % 100]
    kept = [r for r in got if isinstance(r, SnapshotTaken)]
    assert kept[0].displacements == snap.displacements and kept[0].evaluation == snap.evaluation


def _nan_free(evaluation) -> tuple:
    """An Evaluation as a tuple with NaN as None: NaN (N_Delta where no hinge loss) never equals itself."""
    return tuple(None if isinstance(x, float) and math.isnan(x) else x for x in dataclasses.astuple(evaluation))


def _comparable(records) -> list:
    out = []
    for r in records:
        if isinstance(r, StepLogged):
            out.append(("log", r.step, r.loss))
        elif isinstance(r, SnapshotTaken):
            out.append(("snap", r.index, r.step, _nan_free(r.evaluation), sorted(r.observables.items())))
        else:
            out.append((type(r).__name__, getattr(r, "step", None)))
    return out


def test_the_console_sees_the_records_headless_sees(tmp_path, tiny, reap_runs):
    """A run the console starts is the detached headless process; following its store gives the records
    an in-process headless run of the same preset yields (one data path for every run)."""
    from glasslab.core.runs import launch

    p = tiny()
    store, process = launch.start(p, tmp_path / "runs")
    session = RunSession(store, process=process)
    end = session.follow()
    console = session.buffer.drain()

    class Collect:
        def __init__(self):
            self.records = []

        def handle(self, r):
            self.records.append(r)

    headless = Collect()
    assert type(drive(Run(p), [headless])) is type(end)
    assert _comparable(console) == _comparable(headless.records)
    t = Trajectory.open(store)
    assert t.status == "finished" and t.n_snapshots == sum(isinstance(r, SnapshotTaken) for r in console)
    assert t.attrs["two_time_complete"] == t.n_snapshots  # the process completed its store before follow() returned


def test_a_stop_before_the_data_is_loaded_still_gives_a_clean_store(tmp_path, tiny, reap_runs):
    from glasslab.core.runs import launch

    store, process = launch.start(tiny(), tmp_path / "runs")
    session = RunSession(store, process=process)
    session.stop("changed my mind")  # the request waits in the channel until the run serves it
    end = session.follow()
    assert isinstance(end, RunInterrupted) and end.step == 0 and end.reason == "changed my mind"
    t = Trajectory.open(store)
    assert t.status == "interrupted" and t.n_snapshots == 1  # the t = 0 snapshot
    [(what, answer)] = session.answers()
    assert what == "stop" and answer.applied and answer.step == 0


# ------------------------------------------------------------------ the CLI opens the console

@pytest.fixture
def opened(monkeypatch):
    from glasslab.tui.cli import common

    calls = []
    monkeypatch.setattr(common, "open_console", lambda out, **kw: calls.append((Path(out), kw)))
    monkeypatch.setattr(common, "has_terminal", lambda: True)  # CliRunner's streams are not one (issue 22)
    return calls


def test_glasslab_alone_and_glasslab_console_open_it(opened, monkeypatch, tmp_path):
    from glasslab.tui.cli import app

    runner = CliRunner()
    assert runner.invoke(app, []).exit_code == 0
    assert runner.invoke(app, ["console", "--out", str(tmp_path)]).exit_code == 0
    monkeypatch.setenv("GLASSLAB_OUT", str(tmp_path / "elsewhere"))
    assert runner.invoke(app, []).exit_code == 0
    assert [c[0] for c in opened] == [Path("runs"), tmp_path, tmp_path / "elsewhere"]


def test_glasslab_run_without_no_ui_opens_the_console_with_the_preset_started(opened, tmp_path):
    from glasslab.tui.cli import app

    res = CliRunner().invoke(app, ["run", "quickstart", "--steps", "50", "--set", "dynamics.lr=0.2", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    [(out, kw)] = opened
    assert out == tmp_path and kw["autostart"].run.steps == 50 and kw["autostart"].dynamics.lr == 0.2
    assert list(tmp_path.glob("*.zarr")) == []  # the console makes the store, not the CLI
    res = CliRunner().invoke(app, ["run", "nosuchpreset"])
    assert res.exit_code == 2 and "unknown preset" in res.stderr and len(opened) == 1


def test_console_refuses_a_file_as_output_directory_in_one_line(tmp_path):
    from glasslab.tui.cli import app

    a_file = tmp_path / "file"
    a_file.write_text("x")
    res = CliRunner().invoke(app, ["console", "--out", str(a_file)])
    assert res.exit_code == 2 and res.stderr.strip().splitlines() == [
        f"glasslab: error: --out {a_file} is a file, not a directory: choose a directory for the runs"]


# ------------------------------------------------------------------ issue 12: what the screen shows

def test_every_curve_colour_is_its_own_in_256_and_in_16_colours():
    """Two of the five t_w curves shared colour 197 (ESC[35m in 16 colours): the legend could not tell them apart."""
    from rich.color import Color, ColorSystem

    from glasslab.tui.console.widgets.log_plot import MARKERS, PALETTE

    for system in (ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
        codes = [Color.from_rgb(*rgb).downgrade(system).number for rgb in PALETTE]
        assert len(set(codes)) == len(PALETTE), (system, codes)
    assert len(set(MARKERS)) == len(MARKERS)  # NO_COLOR: one marker per curve instead


async def test_without_colour_each_delta_curve_has_its_own_marker(monkeypatch, tmp_path):
    from glasslab.tui.app import make_app
    from glasslab.tui.console.widgets.delta_plot import DeltaPlot

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(out_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("l")
        app.live.display_curves(curves_of(synthetic_records("toy-over")))
        await pilot.pause(0.3)
        plot = app.live.query_one(DeltaPlot)
        markers = [plot.marker(slot) for slot, _ in plot.runs[0].waiting_times()]
        assert len(markers) == 5 and len(set(markers)) == 5


async def test_without_colour_an_overlay_tells_runs_by_marker_and_curves_by_name(monkeypatch, tmp_path):
    """Issue 22: under NO_COLOR the two runs of an overlay were drawn with the same markers (the Delta
    plot's per-t_w markers, the loss plot's train/test ones), so nothing told the runs apart.  Now
    each run has its own marker in every plot, and each curve within a run is named at its end."""
    from glasslab.tui.app import make_app
    from glasslab.tui.console.widgets.d_plot import DPlot
    from glasslab.tui.console.widgets.delta_plot import DeltaPlot
    from glasslab.tui.console.widgets.loss_plot import LossPlot
    from glasslab.tui.console.widgets.plot_panel import PlotPanel

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(out_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("l")
        runs = [curves_of(synthetic_records("toy-over")), curves_of(synthetic_records("toy-under", aging=False))]
        app.live.query_one(PlotPanel).show(runs, [0, 1])
        await pilot.pause(0.3)
        for kind in (LossPlot, DeltaPlot, DPlot):
            plot = app.live.query_one(kind)
            plot.render()
            by_run = [{m for k, m, _ in plot.drawn if k == run} for run in (0, 1)]
            assert all(len(m) == 1 for m in by_run) and by_run[0] != by_run[1], (kind.__name__, plot.drawn)
            for run in (0, 1):  # several curves of one run (one marker): each has its own name on the plot
                names = [n for k, _, n in plot.drawn if k == run]
                assert len(names) == len(set(names)) and (len(names) == 1 or None not in names), (kind.__name__, names)
                assert all(n in plot.curve_names for n in names if n is not None)


def test_linear_ticks_are_round_and_even():
    from glasslab.tui.console.widgets.log_plot import nice_range

    lo, hi, ticks = nice_range(0.0031, 0.0952, 5)
    assert lo <= 0.0031 and hi >= 0.0952 and lo >= 0  # no negative tick below a positive loss
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0]) and all(f"{t:g}" == f"{t:.3g}" for t in ticks)


async def test_loss_plot_is_log_log_to_the_runs_length_and_y_toggles_it(tmp_path):
    from glasslab.tui.app import make_app
    from glasslab.tui.console.widgets.loss_plot import LossPlot

    app = make_app(out_dir=tmp_path)
    c = curves_of([r for r in synthetic_records("toy-over", total=20000) if getattr(r, "step", 0) <= 8000][:-1])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("l")
        app.live.display_curves(c)
        await pilot.pause(0.3)
        plot = app.live.query_one(LossPlot)
        (x0, x1), _ = plot.limits
        assert plot.log_y and x0 == 1 and x1 == pytest.approx(np.log10(20000))  # not to 10^5
        from glasslab.tui.console.widgets.delta_plot import DeltaPlot

        (_, x1), _ = app.live.query_one(DeltaPlot).limits  # the lags too (a new user saw 10^5 there)
        assert x1 == pytest.approx(np.log10(20000))
        y_points = np.concatenate([p[1] for p in plot._points])
        assert y_points.max() < 0  # log10 of losses below 1: the axis is logarithmic
        await pilot.press("y")
        await pilot.pause(0.3)
        assert not plot.log_y and np.concatenate([p[1] for p in plot._points]).min() > 0


def test_the_status_line_breaks_between_fields_and_shows_momentum():
    from rich.text import Text

    from glasslab.core.config.dynamics import describe
    from glasslab.tui.console.widgets.status_line import pack

    fields = [Text("quickstart"), Text("running"), Text("step 19,210/20,000"), Text("cpu"), Text("N 19,210"),
              Text(describe({"kind": "sgd", "lr": 0.5, "batch_size": 100, "momentum": 0.5}))]
    assert fields[-1].plain == "sgd lr 0.5 B 100 m 0.5"
    for width in range(24, 101):
        lines = pack(fields, width).plain.split("\n")
        assert all(len(line) <= width for line in lines)
        assert sorted(p for line in lines for p in line.split("  ")) == sorted(f.plain for f in fields), width


def test_the_same_run_shows_the_same_waiting_times_live_opened_and_continued(tmp_path):
    records = synthetic_records("toy-over", total=20000)
    live = curves_of(records)
    stored = RunCurves.from_store(Trajectory.open(write_store(tmp_path / "a.zarr", records)))
    assert live.waiting_times() == stored.waiting_times() and len(live.waiting_times()) == 5
    stored.trim_after(8000)  # a continue starts from the store: the t_w it can show are the live run's
    live_then = curves_of([r for r in records if getattr(r, "step", 0) <= 8000][:-1])
    assert stored.waiting_times() == live_then.waiting_times()


def test_a_followed_run_and_the_same_store_opened_afterwards_show_the_same_waiting_times(tmp_path):
    """Issue 22: live 10, 92, 963, 3116, 8850 but opened 10, 71, 571, 4045, 28643.  The engine gives
    displacements live only from the waiting times it measures online; the finished store holds
    the whole msd triangle.  The shown t_w were the nearest with data to log-spaced numbers, and
    which t_w had data differed.  One rule now picks among the planned t_w, live and opened."""
    records = synthetic_records("toy-over", total=100000, snapshots=60)
    online = set(records[0].waiting_times)
    live_records = [dataclasses.replace(r, displacements={i: d for i, d in r.displacements.items() if i in online})
                    if isinstance(r, SnapshotTaken) else r for r in records]  # what the engine yields live
    live = curves_of(live_records)
    stored = RunCurves.from_store(Trajectory.open(write_store(tmp_path / "a.zarr", records)))
    assert len(stored.delta) > len(live.delta)  # the store has every t_w; live only the online ones
    assert live.waiting_times() == stored.waiting_times() and len(live.waiting_times()) == 5
    assert {tw for _, tw in live.waiting_times()} <= set(live.online_tw)


def test_a_running_runs_verdict_is_provisional_and_an_interrupted_run_shows_where_it_continues():
    from glasslab.tui.console.screens.runs_screen import RunRow, verdict_text

    running = RunRow(Path("a.zarr"), "a", "running", 500, 1000, 5, True)
    done = RunRow(Path("b.zarr"), "b", "finished", 1000, 1000, 9, True)
    assert verdict_text(running, "aging").plain == "aging, so far" and verdict_text(done, "aging").plain == "aging"
    # the step at which the analysis judged it (verdict_of), not repeated
    assert verdict_text(running, "aging, so far, at step 480").plain == "aging, so far, at step 480"
    stopped = RunRow(Path("c.zarr"), "c", "interrupted", 69_945, 400_000, 30, True, resume_step=78_698)
    assert stopped.steps_text == "78,698/400,000"


def test_the_quickstart_is_listed_first():
    from glasslab.tui.console.screens.presets_screen import find_presets

    assert next(iter(find_presets(None))) == "quickstart"


def test_the_details_pane_shows_only_the_fields_that_apply_with_their_comments():
    from glasslab.core.config import presets
    from glasslab.tui.console.widgets.preset_details import resolved_lines

    resnet = resolved_lines(presets.load("bj18-resnet18-cifar100")).plain
    assert 'name = "cifar100"' in resnet and "classes =" not in resnet  # C = 100 comes from the data set
    assert "width =" not in resnet and "depth =" not in resnet and "stiffness" not in resnet
    assert 'norm = "batch"  # norm layer of resnet18' in resnet  # the comment `presets show` prints
    assert "temperature" not in resnet and "momentum = 0.5" in resnet
    quick = resolved_lines(presets.load("quickstart")).plain
    assert "classes = " in quick and "width = " in quick and "norm =" not in quick


def test_presets_list_piped_keeps_every_name_whole():
    from glasslab.tui.cli import app

    res = CliRunner().invoke(app, ["presets", "list"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["name", "model", "data", "set", "dynamics", "N", "P", "data"]
    names = {line.split()[0] for line in lines[1:] if line and ":" not in line.split()[0]}
    assert {"bj18-toy-cifar10-under", "bj18-resnet18-cifar100", "quickstart"} <= names
    assert "…" not in res.stdout and "─" not in res.stdout


def test_the_exit_lines_say_where_a_stopped_run_continues_from(tmp_path):
    from glasslab.tui.console.quitting import left_running_line, stopped_line

    path = write_store(tmp_path / "a.zarr", synthetic_records("a"))
    # a store without a resume point: no step is promised
    assert stopped_line(path, "interrupted") == f"glasslab: stopped {path}; continue with: glasslab resume {path}"
    import zarr

    zarr.open_group(str(path), mode="a").attrs["resume"] = {"step": 4321, "slot": 0}
    assert stopped_line(path, "interrupted") == (f"glasslab: stopped {path} at step 4,321; "
                                                 f"continue with: glasslab resume {path}")
    assert "still training (at step 7)" in left_running_line(path, 7)


def test_a_timer_due_in_the_past_fires_once_and_does_not_freeze_the_console(tmp_path):
    """Found in tmux (issue 12): a toast built for a notice that had just expired got a timer of
    -1.4 ms, and Textual's timer loop then spun forever on the UI thread.  Run in a thread, so that
    a spin fails the test instead of hanging it."""
    import asyncio

    from glasslab.tui.app import make_app

    done = {}

    async def main():
        app = make_app(out_dir=tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            fired = asyncio.Event()
            app.set_timer(-0.0014, fired.set)
            app.set_timer(0.0, fired.set)
            await asyncio.wait_for(fired.wait(), 10)
            app.notify("expired already", timeout=-1.0)  # the toast's own timer is due in the past
            await pilot.pause(0.2)
            done["ok"] = True

    worker = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    worker.start()
    worker.join(60)
    assert done.get("ok"), "the console's event loop spun on a timer due in the past"


def test_settle_freezes_the_heap_and_the_next_settle_frees_cycles_it_froze():
    """heap.settle(): after it a full collection walks none of the old heap (gc.freeze), so a cycle
    that became garbage stays until the next settle, which frees it (nothing leaks)."""

    class Node:
        pass

    try:
        a = Node()
        a.me = a  # a reference cycle: only the cyclic collector frees it
        ref = weakref.ref(a)
        settle()
        assert gc.get_freeze_count() > 0
        del a
        gc.collect()
        assert ref() is not None  # frozen: full collections leave it alone
        settle()
        assert ref() is None
    finally:
        gc.unfreeze()


def test_the_console_shows_the_time_left_the_run_reports(tmp_path):
    """The ETA on the status line is the run's own (steps and snapshots costed apart, from its
    heartbeat through the store follower), not steps left / the recent rate."""
    from glasslab.core.runs.follow import StoreFollower

    path = write_store(tmp_path / "a.zarr", synthetic_records("toy-over", total=20000))
    curves = curves_of(StoreFollower(path).poll(100.0, 42.0))  # 100 steps/s would say minutes
    assert curves.steps_per_s == 100.0 and curves.eta_s == 42.0
