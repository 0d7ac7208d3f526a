"""Quitting and closing the console: ctrl+c as q, the quit question while runs train, and what
reaches a console that is closing (a switch posted just before the quit)."""

from __future__ import annotations

from glasslab.tui.app import make_app
from glasslab.tui.console.screens.confirm_quit import ConfirmQuit

from support.console import one_torch_thread, reap_runs  # noqa: F401 (fixtures)
from support.pilot import SIZE, press, pytestmark, wait_for  # noqa: F401 (pytestmark: the markers)


async def test_a_second_ctrl_c_at_the_quit_question_quits_leaving_the_runs(tmp_path, monkeypatch):
    """Issue 22: ctrl+c asks (a run started here trains); a second ctrl+c, as in any terminal
    program, quits with the default answer (leave it running) instead of being ignored."""
    import glasslab.tui.console.quitting as quitting

    app = make_app(out_dir=tmp_path / "runs")
    training = tmp_path / "runs" / "quickstart.zarr"
    monkeypatch.setattr(quitting, "left_running", lambda live, stopped=(): [f"left {p}" for p in live.live_runs()])
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app.live, "live_runs", lambda: [training])  # as if started here, still training
        await press(pilot, "ctrl+c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit question")
        await press(pilot, "ctrl+c")
        await wait_for(pilot, lambda: not app.is_running, timeout=300, what="the app to exit")
    assert app.exit_lines == [f"left {training}"] and app._stopping == []  # left running, not stopped


async def test_ctrl_c_quits_as_q_does(tmp_path):
    """A new user's find: ctrl+c in `glasslab follow` only showed "press ctrl+q to quit"."""
    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.name == "presets", what="the presets screen")
        await press(pilot, "ctrl+c")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code in (None, 0)


async def test_a_pick_handled_after_the_last_screen_has_gone_is_dropped(tmp_path):
    """CI's floor run (textual 6.0) found it: a palette pick posted during the key fuzz was handled
    while the console closed, after its last screen had gone, and crashed it (ScreenStackError: No
    screens on stack).  A switch with nowhere to go is dropped, and quitting stays quitting."""
    from glasslab.tui.console.messages import FollowRun, PresetPicked, ResumeRun, RunPicked

    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.name == "presets", what="the presets screen")
    assert not app.screen_stack  # closed: what follows is what a late message meets
    assert await app.action_show("presets") is None
    await app.on_preset_picked(PresetPicked("quickstart"))
    await app.on_run_picked(RunPicked(tmp_path / "runs" / "x.zarr"))
    await app.on_resume_run(ResumeRun(tmp_path / "runs" / "x.zarr"))
    await app.on_follow_run(FollowRun(tmp_path / "runs" / "x.zarr"))
    await app._switch_dynamics()
    app.action_help()
    await app.action_quit()
    assert not app.check_action("show", ("live",))
    assert app.return_code in (None, 0)


async def test_a_preset_summary_that_comes_after_the_close_is_kept_not_a_crash(tmp_path):
    """A fresh-clone make test found it: the presets screen's summarising worker posted a summary
    that was handled after the console had closed and its list had gone (NoMatches: OptionList)."""
    from glasslab.tui.console.screens import presets_screen

    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.name == "presets", what="the presets screen")
        screen = app.screen
        path = screen.paths["quickstart"]
    assert not screen.query(presets_screen.OptionList)  # closed: what a late summary meets
    screen.on_presets_screen_summarized(presets_screen.PresetsScreen.Summarized(presets_screen._summary("quickstart", path)))
    assert screen.summaries["quickstart"].path == str(path)
