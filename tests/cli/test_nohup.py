"""`nohup glasslab run ... --no-ui &` survives the end of its SSH session (issue 31.2), in a real
terminal (tmux): a SIGHUP that was ignored when glasslab started stays ignored, so the hang-up that
ends the login does not stop the run.  It trains on (its output, if it still went to the dead
terminal, goes quiet) until `glasslab stop` ends it.  Each wait is for a state of the store."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from glasslab.core.runs import live
from glasslab.core.store import reader

from support import training
from support.presets import tiny_toml
from support.terminal import Terminal, glasslab_command, pytestmark  # noqa: F401 (the tmux skip)


def wait_until(cond, what: str, timeout: float = 180.0):
    return training.wait_until(cond, what, timeout)


def step(out: Path) -> int:
    found = list(out.glob("*.zarr"))
    return live.describe(found[0]).step if found else 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["nohup", "trap"])
def test_a_run_with_sighup_ignored_trains_on_after_the_terminal_hangs_up(tmp_path, how):
    """nohup: output to nohup.out.  trap: SIGHUP ignored (as nohup does) but the output still on the
    terminal, whose writes fail with EIO after the hang-up: the printing goes quiet, not the run."""
    out = tmp_path / "runs"
    run = f"{glasslab_command()} run {tiny_toml(tmp_path, 10_000_000)} --no-ui --out {out}"
    command = f"nohup {run}" if how == "nohup" else f"sh -c 'trap \"\" HUP; exec {run}'"
    term = Terminal(command, tmp_path)
    try:
        wait_until(lambda: step(out) > 0, "the run to train")
        term.close()  # kill-server: the pane's terminal hangs up (SIGHUP, then EIO on every write)
        [store] = out.glob("*.zarr")
        after = step(out)
        wait_until(lambda: step(out) > after + 100 or not live.describe(store).alive,
                   "the run to train on (or end) after the hang-up")
        assert live.describe(store).status == "running", reader.Trajectory.open(store).events[-1]
        stop = subprocess.run([*glasslab_command().split(), "stop", str(store)], capture_output=True, text=True,
                              timeout=120)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        wait_until(lambda: not live.describe(store).alive, "the run to end and complete its store")
    finally:
        term.close()
        for row in live.find([out]):  # a failing test must not leave the run training
            if row.alive and row.pid:
                os.kill(row.pid, signal.SIGKILL)
    t = reader.Trajectory.open(store)
    assert t.status == "interrupted" and t.events[-1]["reason"] == "stopped by glasslab stop", t.events[-1]
    if how == "nohup":
        assert "resuming" not in (tmp_path / "nohup.out").read_text()
