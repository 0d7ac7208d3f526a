"""End to end in a real terminal: tmux runs `glasslab`, keys go in with send-keys, the screen
comes back with capture-pane, and the store on disk is checked at the end.  (.ci/run installs tmux.)"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from glasslab.core.store.reader import list_runs

from support.terminal import (  # noqa: F401 (fixtures among them)
    Terminal,
    glasslab_command,
    open_quickstart_start_dialog,
    pytestmark,
    step_of,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_glasslab_in_tmux_start_the_quickstart_watch_it_and_quit(tmp_path):
    out = tmp_path / "runs"
    env = f"env GLASSLAB_OUT={shlex.quote(str(out))}"
    term = Terminal(f"{env} {glasslab_command()}; echo GLASSLAB-EXITED $?; sleep 60", cwd=tmp_path)
    try:
        open_quickstart_start_dialog(term)
        term.keys("Enter")

        # The plots fill: the loss plot gets data and the step count grows while we watch.
        first = term.wait_for(lambda s: "running" in s and "loss vs t:" not in s and step_of(s) > 0,
                              "the loss plot to fill", timeout=90)
        term.wait_for(lambda s: step_of(s) > step_of(first), "the step count to grow", timeout=300)
        assert "Delta(t_w, t_w+t)" in first and "D vs t" in first and "10¹" in first  # decade ticks

        term.keys("q")
        screen = term.wait_for(lambda s: "is training" in s or "GLASSLAB-EXITED" in s, "the quit question")
        if "is training" in screen:
            term.keys("s")  # stop it (the default, enter, would leave it training on its own)
        screen = term.wait_for(lambda s: "GLASSLAB-EXITED" in s, "glasslab to exit", timeout=300)
        assert "GLASSLAB-EXITED 0" in screen, screen
        [t] = list_runs(out)
        if t.status == "interrupted":  # the console says where the run it stopped continues from
            flat = screen.replace("\n", "")
            assert f"glasslab: stopped {t.path}" in flat and f"continue with: glasslab resume {t.path}" in flat, screen
    finally:
        term.close()

    [t] = list_runs(out)
    assert t.status in ("interrupted", "finished")
    assert t.n_snapshots >= 1 and len(t.steps) == t.n_snapshots and t.evals()["train_loss"].size == t.n_snapshots
    assert t.events[0]["kind"] == "started" and t.events[-1]["kind"] == t.status


def test_keys_typed_while_glasslab_starts_are_commands(tmp_path):
    """Issue 12: `r` typed during start-up went into the preset filter (and `rrr` then crashed the
    details pane), or raised ScreenStackError before the first screen; now it opens the runs screen."""
    term = Terminal(f"env GLASSLAB_OUT=runs {glasslab_command()}; echo GLASSLAB-EXITED $?; sleep 60", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:  # r from the first instant, through the whole start-up
            term.tmux("send-keys", "-t", "e2e", "r")
            time.sleep(0.1)
        screen = term.wait_for(lambda s: "enter opens a run" in s or "GLASSLAB-EXITED" in s, "the runs screen")
        assert "GLASSLAB-EXITED" not in screen, screen
        term.keys("q")
        screen = term.wait_for(lambda s: "GLASSLAB-EXITED" in s, "glasslab to exit", timeout=300)
        assert "GLASSLAB-EXITED 0" in screen and "Traceback" not in screen and "Error" not in screen, screen
    finally:
        term.close()
