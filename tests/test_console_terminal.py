"""End to end in a real terminal: tmux runs `glasslab`, keys go in with send-keys, the screen
comes back with capture-pane, and the store on disk is checked at the end.  (.ci/run installs tmux.)"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from glasslab.core.trajectory import list_runs

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")


class Terminal:
    """A detached tmux session on a private server (never the user's own tmux), one server per
    Terminal: kill-server returns before the old server has gone, and a new session on the same
    socket could reach the dying server ("server exited unexpectedly": a fresh clone's make test,
    two tmux tests back to back in one worker)."""

    def __init__(self, command: str, cwd: Path, size=(100, 30)):
        self.socket = f"glasslab-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmux("new-session", "-d", "-s", "e2e", "-x", str(size[0]), "-y", str(size[1]), "-c", str(cwd), command)
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "e2e", *(["-l"] if literal else []), *keys)
        time.sleep(0.2)  # a person types slower than send-keys; the app still must not care

    def wait_for(self, predicate, what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        self.socket_path.unlink(missing_ok=True)  # kill-server leaves it, and no later Terminal reuses the name


def glasslab_command() -> str:
    exe = Path(sys.executable).with_name("glasslab")
    return shlex.quote(str(exe)) if exe.exists() else f"{shlex.quote(sys.executable)} -m glasslab.tui.cli"


def step_of(screen: str) -> int:
    for line in screen.splitlines():
        if " step " in line and "/" in line:
            return int(line.split(" step ", 1)[1].split("/", 1)[0].replace(",", ""))
    return -1


def open_quickstart_start_dialog(term: Terminal) -> None:
    """From the preset browser at start-up, as a user: filter to the quickstart, pick it, press s."""
    term.wait_for(lambda s: "quickstart" in s and "Filter" in s, "the preset browser")
    term.keys("/")
    term.keys("quickstart", literal=True)
    term.wait_for(lambda s: "bj18" not in s and "synthetic teacher" in s, "the filter to leave the quickstart")
    term.keys("Enter")
    term.keys("s")
    term.wait_for(lambda s: "Start quickstart" in s, "the start dialog")


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
        term.wait_for(lambda s: step_of(s) > step_of(first), "the step count to grow", timeout=60)
        assert "Delta(t_w, t_w+t)" in first and "D vs t" in first and "10¹" in first  # decade ticks

        term.keys("q")
        screen = term.wait_for(lambda s: "is training" in s or "GLASSLAB-EXITED" in s, "the quit question")
        if "is training" in screen:
            term.keys("s")  # stop it (the default, enter, would leave it training on its own)
        screen = term.wait_for(lambda s: "GLASSLAB-EXITED" in s, "glasslab to exit", timeout=60)
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
        screen = term.wait_for(lambda s: "GLASSLAB-EXITED" in s, "glasslab to exit", timeout=30)
        assert "GLASSLAB-EXITED 0" in screen and "Traceback" not in screen and "Error" not in screen, screen
    finally:
        term.close()
