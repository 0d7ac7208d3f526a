"""A console whose terminal hangs up while SIGHUP is ignored (issue 31 item 8).

With SIGHUP ignored (nohup, some IDEs and job wrappers) nothing ends the console when its terminal
goes: Textual's input thread read EOF in a loop at ~50% of a core for as long as nobody killed it.
Now the console notices the hung-up terminal and exits by itself: the runs it showed are left
training (they are their own processes), and no crash log is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glasslab.core.runs import live

from support import training
from support.presets import tiny_toml
from support.terminal import PtyConsole

ROOT = Path(__file__).resolve().parents[2]


def wait(cond, what: str, timeout: float = 120.0):
    return training.wait_until(cond, what, timeout)


@pytest.mark.slow
def test_a_console_on_a_hung_up_terminal_with_sighup_ignored_exits_and_leaves_its_run(tmp_path):
    from typer.testing import CliRunner

    from glasslab.tui.cli import app

    out = tmp_path / "runs"
    env = {**os.environ, "TERM": "xterm-256color", "GLASSLAB_OUT": str(out), "OMP_NUM_THREADS": "1"}
    with pytest.MonkeyPatch.context() as m:  # the run holds at step 50 until it is stopped: it outlives the test
        m.setenv("GLASSLAB_FAULT_HOLD_AT_STEP", "50")  # (launch.start passes the environment on)
        res = CliRunner().invoke(app, ["run", str(tiny_toml(tmp_path, 400)), "--detach", "--out", str(out)])
    assert res.exit_code == 0, res.output
    store = Path(res.stdout.strip())
    wait(lambda: live.describe(store).status == "running" and live.describe(store).step >= 50, "the run to train")

    console = PtyConsole("follow", str(store), env=env, cwd=ROOT)
    try:
        console.wait_for(lambda s: "running" in s and "Help" in s, "the console to show the run")
        console.hang_up()
        wait(lambda: console.exited() is not None, "the console to exit after the hang-up")
        status = console.exited()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert not list(out.glob("console-crash-*.log"))
        row = live.describe(store)
        assert row.alive and row.status == "running"  # left training, as the quit question's default does
    finally:
        console.close()
        res = CliRunner().invoke(app, ["stop", str(store)])  # the held run ends here, whatever happened
    assert res.exit_code == 0, res.output
