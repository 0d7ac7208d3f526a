"""The console's flows, driven with Pilot: browse and filter presets, start, steer, stop, quit,
open and overlay stored runs, help and the command palette.

Runs are the real engine on the shipped quickstart preset, shortened where a
test needs it to finish; every check reads what the user would see (widget
contents, the plots' data) or what is on disk (the store).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.command import CommandPalette
from textual.widgets import Input, OptionList, Static

from glasslab.core.config import presets
from glasslab.core.store.reader import Trajectory
from glasslab.tui.app import make_app
from glasslab.tui.console.quitting import stopped_line
from glasslab.tui.console.screens.confirm_quit import ConfirmQuit
from glasslab.tui.console.screens.dynamics_dialog import DynamicsDialog
from glasslab.tui.console.screens.help_screen import HelpScreen
from glasslab.tui.console.screens.start_dialog import StartDialog
from glasslab.tui.console.widgets.delta_plot import DeltaPlot
from glasslab.tui.console.widgets.loss_plot import LossPlot
from glasslab.tui.console.widgets.preset_details import PresetDetails
from glasslab.tui.console.widgets.status_line import StatusLine

from support.console import one_torch_thread, reap_runs, two_stores  # noqa: F401 (fixtures)
from support.pilot import (  # noqa: F401 (fixtures among them)
    CHARS,
    SIZE,
    option_ids,
    press,
    pytestmark,
    text_of,
    to_the_runs_screen,
    type_text,
    wait_for,
)


async def test_browse_and_filter_presets(tmp_path):
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.summaries) == len(screen.paths), what="preset summaries")
        assert {"quickstart", "fmnist-toy-over", "fmnist-toy-under", "bj18-resnet18-cifar100"} <= set(option_ids(app))

        def shown_details() -> str:
            return text_of(screen.query_one(PresetDetails).query_one(Static))

        await press(pilot, "slash")
        await type_text(pilot, "under")
        await wait_for(pilot, lambda: set(option_ids(app)) == {"fmnist-toy-under", "bj18-toy-cifar10-under"},
                       what="the filter")
        await press(pilot, "escape")  # clears the filter
        await wait_for(pilot, lambda: len(option_ids(app)) == len(screen.paths), what="the whole list")

        await press(pilot, "slash")
        await type_text(pilot, "quickstart")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: option_ids(app) == ["quickstart"] and "N = " in shown_details(),
                       what="its details")
        details = shown_details()
        assert "N = 19,210 parameters" in details and "P = 2,000" in details
        assert "N/P = 9.61" in details and "under-parametrised" in details  # 19,210 < 2,000 x 10 constraints
        assert "synthetic: available here" in details and 'kind = "toy"' in details and "steps = 20000" in details

        # A data set that is not here says so, with the fix.
        await press(pilot, "escape", "slash")
        await type_text(pilot, "smallnet")
        await wait_for(pilot, lambda: option_ids(app) == ["bj18-smallnet-cifar10"], what="the filter")
        details = shown_details()
        assert "cifar10: missing" in details and "--download" in details
        await press(pilot, "escape")
        app.screen.select("fmnist-toy-over")
        await pilot.pause()
        assert "over-parametrised" in shown_details()


async def test_a_filter_that_matches_nothing_says_so_and_the_console_goes_on(tmp_path):
    """Issue 12, crash 1: `/zzz` used to raise AttributeError in the details pane and end the app."""
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "slash")
        await type_text(pilot, "zzz")
        screen = app.screen
        await wait_for(pilot, lambda: option_ids(app) == [], what="an empty list")
        await pilot.pause(0.1)
        assert "no preset matches 'zzz'" in text_of(screen.query_one(PresetDetails).query_one(Static))
        await press(pilot, "enter")  # back to the (empty) list
        await wait_for(pilot, lambda: app.focused is screen.query_one(OptionList), what="the list to have the focus")
        await press(pilot, "s")  # nothing to start
        await wait_for(pilot, lambda: any("No preset selected" in str(n.message) for n in app._notifications),
                       what="the notice")
        assert app.is_running and app.screen is screen
        await press(pilot, "escape")  # clears the filter: the list is back
        await wait_for(pilot, lambda: len(option_ids(app)) == len(screen.paths), what="the whole list")


async def test_keys_pressed_while_the_console_starts_are_commands_not_filter_text(tmp_path):
    """Issue 12, crash 2: `r` pressed during start-up landed in the filter.  The key goes in as the
    app mounts its first screen (before Pilot would be handed over)."""
    from glasslab.tui.app import GlasslabApp

    class KeysAtStart(GlasslabApp):
        def on_mount(self) -> None:  # Textual runs this, then GlasslabApp.on_mount (each class's handler)
            for _ in range(3):
                self._driver.send_message(events.Key("r", "r"))

    app = KeysAtStart(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        runs = app.get_screen("runs")
        await wait_for(pilot, lambda: app.screen is runs, what="the runs screen")
        assert app.get_screen("presets").query_one("#preset-filter", Input).value == ""


async def test_keys_typed_right_after_enter_in_the_filter_are_list_commands(tmp_path):
    """Issue 22, 1a: `/quickstart`, enter, s typed faster than the console handles them.  The app
    routes each key to the widget focused when the key arrives, so s reached the filter before its
    enter had moved the focus, and the filter read "quickstarts".  The keys go in back to back
    here, none handled before the next is queued: that is the loaded machine's order, every time."""
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: app.focused is screen.query_one(OptionList), what="the list to have the focus")
        for key in ["slash", *"quickstart", "enter", "s"]:
            app._driver.send_message(events.Key(key, CHARS.get(key, key if len(key) == 1 else None)))
        await wait_for(pilot, lambda: isinstance(app.screen, StartDialog), timeout=300, what="the start dialog")
        assert screen.query_one("#preset-filter", Input).value == "quickstart"
        assert app.screen.preset.name == "quickstart"


async def test_keys_typed_right_after_enter_while_the_filter_has_the_focus_go_to_the_list(tmp_path):
    """The same as the terminal's order: the filter has the focus, `quickstart`, enter and s come
    back to back, so enter and s both reach the filter before it has handled either."""
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await press(pilot, "slash")
        await wait_for(pilot, lambda: app.focused is screen.query_one("#preset-filter", Input), what="the filter")
        for key in [*"quickstart", "enter", "s"]:
            app._driver.send_message(events.Key(key, CHARS.get(key, key if len(key) == 1 else None)))
        await wait_for(pilot, lambda: isinstance(app.screen, StartDialog), timeout=300, what="the start dialog")
        assert screen.query_one("#preset-filter", Input).value == "quickstart"
        assert app.screen.preset.name == "quickstart"


def test_an_unhandled_exception_exits_1_with_one_line_naming_the_log(tmp_path, monkeypatch, capsys):
    from glasslab.tui.console.quitting import run_console
    from glasslab.tui.console.screens.presets_screen import PresetsScreen

    def broken(self, text):
        raise RuntimeError("a defect in the console")

    monkeypatch.setattr(PresetsScreen, "_fill", broken)
    app = make_app(out_dir=tmp_path / "runs")
    code = run_console(app, headless=True, size=SIZE)
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "RuntimeError: a defect in the console" in lines[0], lines
    log = Path(lines[0].rsplit("the traceback is in ", 1)[1])
    assert log.parent == (tmp_path / "runs").resolve() and log.name.startswith("console-crash-")
    text = log.read_text()
    assert text.startswith("Traceback") and "in broken" in text and "RuntimeError: a defect in the console" in text


async def test_a_local_preset_shadows_the_shipped_one(tmp_path):
    local = Path.cwd() / "presets"  # conftest runs each test in a clean working directory
    local.mkdir()
    (local / "quickstart.toml").write_text('description = "my own"\n[run]\nsteps = 77\n')
    (local / "mine.toml").write_text('[run]\nsteps = 5\n')
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        assert "mine" in option_ids(app)
        app.screen.select("quickstart")
        await pilot.pause()
        details = text_of(app.screen.query_one(PresetDetails).query_one(Static))
        assert "my own" in details and "steps = 77" in details


# ------------------------------------------------------------------ running

async def start_from_the_browser(pilot, name: str, steps: int | None) -> None:
    await press(pilot, "slash")
    await type_text(pilot, name)
    await press(pilot, "enter")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.selected == name and pilot.app.focused is screen.query_one(OptionList),
                   what="the list to have the focus")
    await press(pilot, "s")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, StartDialog), what="the start dialog")
    if steps is not None:
        # The steps field has the focus, its text selected: typing replaces it.
        await type_text(pilot, str(steps))
    await press(pilot, "enter")


async def test_start_the_quickstart_watch_it_train_and_quit(tmp_path):
    """Browse, edit, start; the plots fill; quitting asks once (esc stays, s stops the run cleanly and quits)."""
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await start_from_the_browser(pilot, "quickstart", steps=3000)
        live = app.live
        await wait_for(pilot, lambda: live.curves is not None and len(live.curves.eval_steps) >= 4,
                       what="a few snapshots")
        assert app.screen is live
        await pilot.pause(0.3)
        c = live.curves
        assert c.status == "running" and c.total_steps == 3000 and c.n_params == 19_210
        status = text_of(live.query_one(StatusLine))
        assert "running" in status and "/3,000" in status and "N 19,210" in status and "steps/s" in status
        # The loss plot draws the snapshots' losses (the plots redraw about once a second).
        await wait_for(pilot, lambda: len(live.query_one(LossPlot)._points) == 2, what="the loss plot")
        assert Trajectory.open(Path(c.path)).attrs["preset"]["run"]["steps"] == 3000  # the edit is stored

        await press(pilot, "q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit question")
        await press(pilot, "escape")  # stay
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmQuit), what="the question to go")
        assert live.running
        await press(pilot, "q", "s")
        await wait_for(pilot, lambda: not app.is_running, timeout=300, what="the app to exit")
    t = Trajectory.open(Path(live.curves.path))
    assert t.status == "interrupted" and t.events[-1]["reason"] == "quit from the console"
    # One exit line for the run: stopped, where it continues; not also "still training" (a new user's find).
    assert [line for line in app.exit_lines if str(t.path) in line] == [stopped_line(t.path, "interrupted")]
    assert t.n_snapshots == len(live.curves.eval_steps) >= 4  # every snapshot taken is in the store
    assert list(t.evals()["train_loss"]) == live.curves.train_loss  # the plot showed what the store holds


async def test_a_short_run_finishes_and_its_store_is_complete(tmp_path):
    local = Path.cwd() / "presets"
    local.mkdir()
    (local / "small.toml").write_text(
        '[model]\nkind = "toy"\nwidth = 16\n[data]\nshape = [8]\nclasses = 4\ntrain_size = 200\ntest_size = 100\n'
        '[dynamics]\nbatch_size = 20\n[recording]\nsnapshots = 12\nfirst = 5\nlog_every = 5\n[run]\nsteps = 1000\ndevice = "cpu"\n')
    app = make_app(out_dir=tmp_path / "runs", presets_dir=local)
    async with app.run_test(size=SIZE) as pilot:
        await start_from_the_browser(pilot, "small", steps=150)
        live = app.live
        await wait_for(pilot, lambda: live.curves is not None and live.curves.status == "finished", timeout=300,
                       what="the run to finish")
        await wait_for(pilot, lambda: not live.running, what="the store to be closed and completed")
        c = live.curves
        assert c.step == 150 and c.eval_steps[-1] == 150 and len(c.loss_values) == 150 // 5
        assert "finished" in text_of(live.query_one(StatusLine))
    t = Trajectory.open(Path(c.path))
    assert t.status == "finished" and t.n_snapshots == len(c.eval_steps) == len(t.attrs["snapshot_grid"])
    assert t.attrs["two_time_complete"] == t.n_snapshots  # completed like `glasslab run --no-ui` does
    assert list(t.evals()["test_loss"]) == c.test_loss and list(t.loss()[1]) == c.loss_values


async def test_switch_dynamics_mid_run_then_stop(tmp_path):
    out = tmp_path / "runs"
    # Fewer snapshots than the preset's 80: this test is about the switch, not the store's size.
    app = make_app(out_dir=out, autostart=presets.load("quickstart", ["run.device=cpu", "recording.snapshots=20"]))
    async with app.run_test(size=SIZE) as pilot:
        live = app.live
        await wait_for(pilot, lambda: live.curves is not None and live.curves.step >= 20, what="training")
        await press(pilot, "d")
        await wait_for(pilot, lambda: isinstance(app.screen, DynamicsDialog), what="the dynamics dialog")
        await press(pilot, "right", "right", "space", "tab")  # Langevin, then the learning rate
        await type_text(pilot, "-1")
        await press(pilot, "enter")  # refused by the engine's check: the dialog stays, with the reason
        await wait_for(pilot, lambda: "dynamics.lr must be > 0" in text_of(app.screen.query_one("#dialog-error", Static)),
                       what="the refusal")
        assert isinstance(app.screen, DynamicsDialog)
        assert not live.curves.switches
        app.screen.query_one("#dyn-lr", Input).value = "0.5"
        await press(pilot, "tab")  # from the learning rate to the temperature
        await type_text(pilot, "1e-4")
        assert app.screen.query_one("#dyn-momentum", Input).value == "0"  # Langevin is overdamped
        await press(pilot, "enter")
        await wait_for(pilot, lambda: live.curves.switches, what="the switch to reach the plots")
        assert live.curves.dynamics["kind"] == "langevin" and "langevin" in text_of(live.query_one(StatusLine))
        switch = live.curves.switches[0]
        await press(pilot, "x")
        await wait_for(pilot, lambda: not live.running, timeout=300, what="the stop (store closed)")
        assert live.curves.status == "interrupted"
        t = Trajectory.open(Path(live.curves.path))
        assert t.status == "interrupted"
        assert t.n_snapshots == len(live.curves.eval_steps) >= 1  # every snapshot taken is stored
        [event] = [e for e in t.events if e["kind"] == "dynamics_changed"]
        assert event["step"] == switch.step and event["old"]["kind"] == "sgd"
        assert event["new"]["kind"] == "langevin" and event["new"]["temperature"] == 1e-4
        assert t.events[-1]["kind"] == "interrupted"


@pytest.mark.slow
async def test_stop_then_continue_from_the_runs_browser(tmp_path, monkeypatch):
    """x stops the run (interrupted); on the runs screen c continues it in the same store from its
    last snapshot, and it ends as the uninterrupted run would have: the same weights, bit for bit."""
    import numpy as np

    from glasslab.core.store.writer import TrajectoryWriter
    from glasslab.core.train.run import Run, drive

    # The console follows the store about once a second, so on a loaded machine the run could end
    # before x reached it (1,500 steps did): the run's process holds at step 2,000 (the loop's test
    # hook, inherited from this environment) until the stop; the continued run does not hold.
    monkeypatch.setenv("GLASSLAB_FAULT_HOLD_AT_STEP", "2000")
    p = presets.load("quickstart", ["run.device=cpu", "run.steps=5000", "recording.snapshots=15"])
    out = tmp_path / "runs"
    app = make_app(out_dir=out, autostart=p)
    async with app.run_test(size=SIZE) as pilot:
        live = app.live
        await wait_for(pilot, lambda: live.curves is not None and len(live.curves.eval_steps) >= 6, what="training")
        await press(pilot, "x")
        await wait_for(pilot, lambda: not live.running, timeout=300, what="the stop")
        path = Path(live.curves.path)
        stopped = Trajectory.open(path)
        n = len(stopped.attrs["snapshot_grid"])
        assert stopped.status == "interrupted" and 6 <= stopped.n_snapshots < n
        assert stopped.events[-1]["step"] <= 2000

        await to_the_runs_screen(pilot, 1)
        await press(pilot, "c")
        await wait_for(pilot, lambda: app.screen is live and live.session.resume == path, what="the resume")
        assert live.curves.eval_steps[:stopped.n_snapshots] == [int(s) for s in stopped.steps]  # the store's part
        await wait_for(pilot, lambda: live.curves.status == "finished" and not live.running, timeout=300,
                       what="the resumed run to finish")
        assert live.curves.eval_steps == sorted(set(live.curves.eval_steps))  # nothing drawn twice
    t = Trajectory.open(path)
    assert t.status == "finished" and t.n_snapshots == n and t.attrs["two_time_complete"] == n
    assert [e["kind"] for e in t.events].count("resumed") == 1

    reference = tmp_path / "reference.zarr"
    monkeypatch.delenv("GLASSLAB_FAULT_HOLD_AT_STEP")  # the reference trains here, uninterrupted
    drive(Run(p), [TrajectoryWriter(reference)])
    assert np.array_equal(Trajectory.open(reference).weights[:n], t.weights[:n])


async def test_continue_refuses_a_finished_run(tmp_path):
    two_stores(tmp_path / "runs")
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await to_the_runs_screen(pilot, 2)
        await press(pilot, "c")  # the highlighted run is finished
        await wait_for(pilot, lambda: any("--steps" in str(n.message) for n in app._notifications),
                       what="the notice")
        assert app.screen is screen and not app.live.running


async def test_a_run_that_cannot_start_says_why(tmp_path):
    p = presets.load("bj18-smallnet-cifar10", ["data.data_dir=" + str(tmp_path / "nodata")])
    app = make_app(out_dir=tmp_path / "runs", autostart=p)
    async with app.run_test(size=SIZE) as pilot:
        live = app.live
        await wait_for(pilot, lambda: live.curves is not None and live.curves.status == "failed", what="the failure")
        assert "--download" in live.curves.message and "Traceback" not in live.curves.message
        assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.zarr"))


# ------------------------------------------------------------------ stored runs

async def test_open_a_finished_run_and_overlay_two(tmp_path):
    out = tmp_path / "runs"
    over, under = two_stores(out)
    app = make_app(out_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await to_the_runs_screen(pilot, 2)
        await wait_for(pilot, lambda: "…" not in [str(v) for v in table.get_column_at(5)], what="the verdicts")
        verdicts = {key: str(table.get_cell(key, table.ordered_columns[-1].key)) for key in screen.rows}
        # The "over" store's Delta falls like t_w^-0.8 while its D falls like 1/t_w: divided by D its curves
        # no longer age (issue 30: that is read as "Delta ages; Delta/D does not", shortened here).
        assert verdicts == {str(over): "D falls, no aging", str(under): "no aging (TTI)"}
        await press(pilot, "enter")  # the newest run (under) is first
        await wait_for(pilot, lambda: str(under) in screen.curves, what="the store to load")
        delta = screen.query_one(DeltaPlot)
        assert [c.name for c in delta.runs] == ["toy-under"]
        tws = [tw for _, tw in delta.runs[0].waiting_times()]
        assert delta.runs[0].delta[tws[0]][0] == pytest.approx((1, 1e-4 * 1 ** 0.8)) or tws  # curve from the msd array

        await press(pilot, "down", "o")
        await wait_for(pilot, lambda: len(delta.runs) == 2, what="the overlay")
        assert [c.name for c in delta.runs] == ["toy-under", "toy-over"] and delta.slots == [0, 1]
        legend = text_of(screen.query_one("#runs-legend", Static))
        assert "toy-under-fixed" in legend and "toy-over-fixed" in legend
        await press(pilot, "up", "o")  # remove the first: the second keeps its colour
        await wait_for(pilot, lambda: len(delta.runs) == 1, what="the removal")
        assert [c.name for c in delta.runs] == ["toy-over"] and delta.slots == [1]


# ------------------------------------------------------------------ help and palette

async def test_help_lists_every_key(tmp_path):
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        shown = text_of(app.screen.query_one("#help-keys", Static))
        for _, bindings in app.key_groups():
            for b in bindings:
                if b.description:  # the footer's short label, or the whole one (the tooltip) where it has one
                    assert (b.tooltip or b.description) in shown, b
        for words in ("Stop run", "Dynamics", "Overlay", "Filter", "Command palette", "Quit"):
            assert words in shown
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="the help to close")


async def test_command_palette_finds_presets_runs_and_actions(tmp_path):
    out = tmp_path / "runs"
    over, _ = two_stores(out)
    app = make_app(out_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        async def palette(query: str) -> None:
            await press(pilot, "ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
            await type_text(pilot, query)
            await pilot.pause(0.5)  # the providers search asynchronously
            await press(pilot, "enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), what="the palette to close")
            await pilot.pause(0.2)

        await palette("preset fmnist-toy-under")
        assert app.screen is app.get_screen("presets") and app.screen.selected == "fmnist-toy-under"
        await palette("run toy-over-fixed")
        runs = app.get_screen("runs")
        assert app.screen is runs
        await wait_for(pilot, lambda: str(over) in runs.curves, what="the run to open")
        assert list(runs.shown) == [str(over)]
        await palette("Live run")
        assert app.screen is app.live


async def test_a_continued_run_shows_the_dynamics_it_was_switched_to_and_where_it_continues(tmp_path):
    """Found by a new user: after d (Langevin), x and c, the status line said sgd while the run trained
    Langevin, and "resuming from" the last snapshot's step instead of the stop's."""
    from support.presets import tiny_preset
    from support.resume import SWITCH, train

    out = tmp_path / "runs"
    out.mkdir()
    path = out / "tiny.zarr"
    t = train(path, tiny_preset(**{"run.steps": 100_000}), switch_at=60, stop_at=150)
    assert t.status == "interrupted" and int(t.steps[-1]) < 150
    app = make_app(out_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        live = app.live
        await to_the_runs_screen(pilot, 1)
        await press(pilot, "c")
        await wait_for(pilot, lambda: app.screen is live and live.session is not None and live.session.resume == path,
                       what="the resume")
        assert live.curves.dynamics["kind"] == "langevin" and live.curves.step == 150  # before the run reports
        assert "resuming from step 150" in live.curves.message
        await wait_for(pilot, lambda: live.session.started, what="the continued run to start")
        await wait_for(pilot, lambda: live.curves.status == "running", what="its first records")
        assert live.session.dynamics.kind == "langevin" and live.session.dynamics.temperature == SWITCH["temperature"]
        assert live.curves.dynamics["kind"] == "langevin" and "langevin" in text_of(live.query_one(StatusLine))
        assert len(live.curves.switches) == 1  # drawn once
        live.stop("end of the test")
        await wait_for(pilot, lambda: not live.running, timeout=300, what="the stop")
