"""The console's screens as issue 12 asked for them, driven with Pilot: the analysis pane of an
opened run, the dynamics and start dialogs, the help on the plots, moving in the lists.
(The main flows are in test_console_flows.py, whose helpers these use.)"""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from glasslab.tui.app import make_app
from glasslab.tui.console.screens.dynamics_dialog import DynamicsDialog
from glasslab.tui.console.screens.help_screen import HelpScreen
from glasslab.tui.console.screens.start_dialog import StartDialog

from support.console import one_torch_thread, two_stores  # noqa: F401 (a fixture)
from support.pilot import (
    SIZE,
    option_ids,
    press,
    text_of,
    to_the_runs_screen,
    type_text,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


async def test_the_analysis_of_an_opened_run_is_in_the_console(tmp_path):
    """Issue 12, item 21: mu, the slopes, tau_e and the verdict of a run, not only in `glasslab analyze`."""
    out = tmp_path / "runs"
    over, _ = two_stores(out)
    app = make_app(out_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await to_the_runs_screen(pilot, 2)
        await press(pilot, "down", "enter")  # the aging run (listed second)
        await wait_for(pilot, lambda: str(over) in screen.curves, what="the store to load")
        await press(pilot, "a")
        pane = screen.query_one("#runs-analysis-text", Static)
        await wait_for(pilot, lambda: "verdict" in text_of(pane), what="the analysis")
        shown = text_of(pane)
        for words in ("mu, all t_w", "late third of t_w (verdict)", "dynamics switches", "sgd -> langevin at step 800"):
            assert words in shown, words
        assert not screen.query_one("#runs-plots").display
        await press(pilot, "a")
        await wait_for(pilot, lambda: screen.query_one("#runs-plots").display, what="the plots back")


async def test_the_dynamics_dialog_starts_each_kind_from_the_presets_values(tmp_path):
    """Issue 12, item 11: back from Langevin to SGD kept momentum 0 and T = 1e-5."""
    from textual.widgets import RadioButton

    app = make_app(out_dir=tmp_path / "runs")
    preset = {"kind": "sgd", "lr": 0.5, "batch_size": 100, "momentum": 0.5, "temperature": 0.0}
    now = {**preset, "kind": "langevin", "momentum": 0.0, "temperature": 1e-5}
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(DynamicsDialog(now, lambda changes: None, preset))
        await wait_for(pilot, lambda: isinstance(app.screen, DynamicsDialog) and app.screen.query("#dyn-lr"),
                       what="the dialog")
        dialog = app.screen

        def fields() -> dict:
            return {k: dialog.query_one(f"#dyn-{k}", Input).value for k in ("lr", "temperature", "momentum")}

        assert fields() == {"lr": "0.5", "temperature": "1e-05", "momentum": "0"}  # the run as it is
        dialog.query_one("#kind-sgd", RadioButton).value = True
        await wait_for(pilot, lambda: fields()["momentum"] == "0.5", what="the preset's SGD values")
        assert fields() == {"lr": "0.5", "temperature": "0", "momentum": "0.5"}
        assert "preset's values" in text_of(dialog.query_one("#dyn-source", Static))
        dialog.query_one("#kind-langevin", RadioButton).value = True
        await wait_for(pilot, lambda: fields()["momentum"] == "0", what="Langevin's values")
        assert fields()["temperature"] == "1e-05"  # the preset has no T: the run's


async def test_the_start_dialog_says_the_data_is_missing_and_offers_a_folder_or_a_download(tmp_path, monkeypatch):
    """Issue 12, item 10: a preset without its data started anyway and failed 10 s later."""
    from textual.widgets import Checkbox

    from glasslab.tui.console.screens import start_dialog

    monkeypatch.setattr(start_dialog, "reachable", lambda host, timeout=2.0: False)  # as offline
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.select("bj18-smallnet-cifar10")
        await press(pilot, "s")
        await wait_for(pilot, lambda: isinstance(app.screen, StartDialog) and app.screen.query("#start-download"),
                       what="the start dialog")
        dialog = app.screen
        assert "data cifar10 is missing here" in text_of(dialog.query_one("#start-data-missing", Static))
        box = dialog.query_one("#start-download", Checkbox)
        await wait_for(pilot, lambda: "no network" in str(box.label), what="the network check")
        assert box.disabled  # no download offered where it cannot work
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "either" in text_of(dialog.query_one("#dialog-error", Static)), what="the refusal")
        assert app.screen is dialog and not app.live.running


async def test_help_explains_the_plots_and_the_switch_marks(tmp_path):
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "h")  # the second help key
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.query("#help-plots"),
                       what="the help")
        shown = text_of(app.screen.query_one("#help-plots", Static))
        for words in ("loss vs t", "Delta(t_w, t_w+t)", "waiting time t_w", "noise strength D", "dynamics switch"):
            assert words in shown, words


async def test_vi_keys_move_in_the_lists_and_esc_keeps_the_selection(tmp_path):
    """Issue 12, item 14: j/k/g/G did nothing; esc reset the selection; the quickstart came last."""
    out = tmp_path / "runs"
    two_stores(out)
    app = make_app(out_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.selected == "quickstart" and option_ids(app)[0] == "quickstart"
        await press(pilot, "j", "j")
        await wait_for(pilot, lambda: screen.selected == option_ids(app)[2], what="j")
        await press(pilot, "k")
        await wait_for(pilot, lambda: screen.selected == option_ids(app)[1], what="k")
        await press(pilot, "G")
        await wait_for(pilot, lambda: screen.selected == option_ids(app)[-1], what="G")
        last = screen.selected
        await press(pilot, "slash")
        await type_text(pilot, last[:4])
        await wait_for(pilot, lambda: last in option_ids(app) and len(option_ids(app)) < len(screen.paths),
                       what="the filter")
        await press(pilot, "escape")
        await wait_for(pilot, lambda: len(option_ids(app)) == len(screen.paths), what="the whole list")
        assert screen.selected == last  # esc cleared the filter, not the selection
        await press(pilot, "g")
        await wait_for(pilot, lambda: screen.selected == "quickstart", what="g")

        runs, table = await to_the_runs_screen(pilot, 2)
        first = runs.highlighted
        await press(pilot, "j")
        await wait_for(pilot, lambda: runs.highlighted != first, what="j in the runs table")
        await press(pilot, "k")
        await wait_for(pilot, lambda: runs.highlighted == first, what="k in the runs table")


# Found by a new user in tmux (`send-keys C-u 3000 Enter` in one go): enter, a priority binding, ran
# in the app's loop before the field had taken the keys typed just before it, so the run started
# with the old value (or a digit short), and the dynamics dialog said "got ''".  Sent in one go, the
# keys queue up as they did there.
async def _type_in_one_go(app, *keys: str) -> None:
    from textual import events

    from support.pilot import CHARS

    for key in keys:
        app._driver.send_message(events.Key(key, CHARS.get(key, key if len(key) == 1 else None)))


async def test_the_start_dialog_uses_what_was_typed_just_before_enter(tmp_path):
    from glasslab.core.config import presets

    app = make_app(out_dir=tmp_path / "runs")
    chosen = []
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(StartDialog(presets.load("quickstart"), ["cpu"]), chosen.append)
        await wait_for(pilot, lambda: isinstance(app.screen, StartDialog) and app.focused is not None
                       and app.focused.id == "start-steps", what="the dialog, steps focused")
        await _type_in_one_go(app, "ctrl+u", "4", "0", "0", "0", "enter")
        await wait_for(pilot, lambda: chosen, what="the dialog to close")
        assert chosen[0].preset.run.steps == 4000


async def test_the_dynamics_dialog_uses_what_was_typed_just_before_enter(tmp_path):
    app = make_app(out_dir=tmp_path / "runs")
    applied = []
    now = {"kind": "langevin", "lr": 0.5, "momentum": 0.0, "temperature": 1e-5}
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(DynamicsDialog(now, applied.append, now))
        await wait_for(pilot, lambda: isinstance(app.screen, DynamicsDialog) and app.screen.query("#dyn-temperature"),
                       what="the dialog")
        app.screen.query_one("#dyn-temperature", Input).focus()
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "dyn-temperature", what="T focused")
        await _type_in_one_go(app, "ctrl+u", "1", "e", "-", "4", "enter")
        await wait_for(pilot, lambda: applied or not isinstance(app.screen, DynamicsDialog), what="the switch")
        assert applied and applied[0]["temperature"] == 1e-4, (applied, text_of(app.screen.query_one("#dialog-error", Static)) if isinstance(app.screen, DynamicsDialog) else "")


async def test_the_dynamics_dialog_switches_the_sampler(tmp_path):
    """Issue 29, item 1: the sampler is switched with the rest of the dynamics; picking it leaves the
    other fields alone, and another kind starts from the preset's sampler."""
    from textual.widgets import RadioButton

    app = make_app(out_dir=tmp_path / "runs")
    applied = []
    preset = {"kind": "sgd", "lr": 0.5, "batch_size": 100, "momentum": 0.5, "temperature": 0.0}
    now = {**preset, "lr": 0.2, "sampler": "reshuffle"}
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(DynamicsDialog(now, applied.append, preset))
        await wait_for(pilot, lambda: isinstance(app.screen, DynamicsDialog) and app.screen.query("#sampler-replacement"),
                       what="the dialog")
        dialog = app.screen
        dialog.query_one("#sampler-replacement", RadioButton).value = True
        await pilot.pause()
        assert dialog.query_one("#dyn-lr", Input).value == "0.2"  # the run's, not reset to the preset's
        assert dialog.changes() == {"kind": "sgd", "lr": 0.2, "temperature": 0.0, "momentum": 0.5,
                                    "sampler": "replacement"}
        dialog.query_one("#kind-gd", RadioButton).value = True
        await wait_for(pilot, lambda: dialog.query_one("#sampler-reshuffle", RadioButton).value,
                       what="the preset's sampler")
        dialog.query_one("#kind-sgd", RadioButton).value = True
        await pilot.pause()  # the kind's values are in (the run's own: reshuffled)
        assert dialog.query_one("#sampler-reshuffle", RadioButton).value
        dialog.query_one("#sampler-replacement", RadioButton).value = True
        await pilot.pause()
        await press(pilot, "enter")
        await wait_for(pilot, lambda: applied, what="the switch")
        assert applied[0]["sampler"] == "replacement" and applied[0]["kind"] == "sgd"


async def test_the_chosen_radio_button_shows_without_colour(tmp_path, monkeypatch):
    """Under NO_COLOR the dialogs' choices (dynamics kind, device) say which one is chosen by their
    mark, not only by its colour: ● chosen, ○ the others."""
    from textual.widgets import RadioButton

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(DynamicsDialog({"kind": "sgd", "lr": 0.1}, lambda changes: None))
        await wait_for(pilot, lambda: isinstance(app.screen, DynamicsDialog) and app.screen.query("#kind-gd"),
                       what="the dialog")

        def marks() -> dict:
            return {b.id: ("●" in b.render().plain) - ("○" in b.render().plain)
                    for b in app.screen.query(RadioButton)}

        sampler = {"sampler-reshuffle": 1, "sampler-replacement": -1}
        assert marks() == {"kind-gd": -1, "kind-sgd": 1, "kind-langevin": -1, **sampler}
        app.screen.query_one("#kind-langevin", RadioButton).value = True
        await wait_for(pilot, lambda: marks() == {"kind-gd": -1, "kind-sgd": -1, "kind-langevin": 1, **sampler},
                       what="the mark to move")


@pytest.mark.parametrize("size", [(80, 24), (60, 18)], ids=["80x24", "60x18"])
async def test_every_footer_fits_at_small_terminal_sizes(tmp_path, size):
    """Issue 22: at 80x24 the runs screen's footer lost its last keys, at 60x18 every screen's did
    (the footer scrolls sideways, so what does not fit is simply not seen).  Each key of each
    browser's footer now lies inside the terminal."""
    from textual.widgets import Footer

    from glasslab.tui.console.curves import RunCurves

    from support.console import synthetic_records

    two_stores(tmp_path / "runs")
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=size) as pilot:
        curves = RunCurves("toy-over")
        for r in synthetic_records("toy-over", total=20000, switch_at=3000)[:-1]:
            curves.apply(r)
        for name in ("presets", "live", "runs", "sweeps"):
            screen = await app.action_show(name)
            if name == "live":
                screen.display_curves(curves)
            footer = screen.query_one(Footer)

            def laid_out() -> bool:  # fitted to the width (a resize recomposes it once), its keys placed
                keys = footer.query("FooterKey")
                return (footer.compact == (size[0] < 100) and footer.show_command_palette == (size[0] >= 90)
                        and bool(keys) and all(k.region.width for k in keys))

            await wait_for(pilot, laid_out, what=f"the {name} footer laid out")
            keys = list(footer.query("FooterKey"))
            assert keys, name
            assert footer.virtual_size.width <= footer.size.width, (name, size, footer.virtual_size.width, [str(k.description) for k in keys])
            assert all(k.region.right <= size[0] for k in keys), (name, size, [(k.description, k.region) for k in keys])


@pytest.mark.parametrize("typed", ["99999999999999999999999", "1000000000000000000"])
async def test_the_start_dialog_refuses_an_absurd_step_count_as_the_cli_does(tmp_path, typed):
    """Issue 31.5: 23 digits were cut to 99,999,999,999,999,999 and started; now the dialog stays open
    with the bound's line, the one `--steps` gives."""
    from glasslab.core.config import presets

    app = make_app(out_dir=tmp_path / "runs")
    chosen = []
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(StartDialog(presets.load("quickstart"), ["cpu"]), chosen.append)
        await wait_for(pilot, lambda: isinstance(app.screen, StartDialog) and app.focused is not None
                       and app.focused.id == "start-steps", what="the dialog, steps focused")
        await _type_in_one_go(app, "ctrl+u", *typed, "enter")
        error = lambda: text_of(app.screen.query_one("#dialog-error", Static)) if isinstance(app.screen, StartDialog) else ""  # noqa: E731
        await wait_for(pilot, lambda: "must be <=" in error() or chosen, what="the dialog's answer")
        assert not chosen and isinstance(app.screen, StartDialog)
        assert f"run.steps must be <= {presets.MAX_STEPS}, got {typed}" in error()
