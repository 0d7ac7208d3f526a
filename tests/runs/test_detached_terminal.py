"""A run outlives its console's terminal, in a real one (tmux): start the quickstart from the console,
kill the tmux server (the console gets SIGHUP, as on an SSH drop), and the run trains on;
a new console finds it, follows it live and switches its dynamics, the store records the switch, and
`glasslab stop` ends the run cleanly.  The run is far longer than the test (10^6 steps), so no step
of the test races the run's end, however loaded the machine."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess

import pytest

from glasslab.core.runs import live
from glasslab.core.store.reader import Trajectory

from support import training
from support.terminal import (
    Terminal,
    glasslab_command,
    open_quickstart_start_dialog,
    pytestmark,  # noqa: F401 (the tmux skip)
    step_of,
)


def wait(cond, what: str, timeout: float = 60.0):
    return training.wait_until(cond, what, timeout)


@pytest.mark.slow
def test_the_quickstart_survives_a_hang_up_and_a_new_console_steers_it(tmp_path):
    out = tmp_path / "runs"
    try:
        steer_after_a_hang_up(tmp_path, out)
    finally:  # the run outlives its consoles by design; a failing test must not leave it training
        for row in live.find([out]):
            if row.alive and row.pid:
                os.kill(row.pid, signal.SIGKILL)


def steer_after_a_hang_up(tmp_path, out):
    console = f"env GLASSLAB_OUT={shlex.quote(str(out))} {glasslab_command()}"
    term = Terminal(console, cwd=tmp_path)
    try:
        open_quickstart_start_dialog(term)
        # 10^6 steps: the run is still training whenever the test acts on it; it ends by `glasslab stop`.
        term.keys("1000000", literal=True)  # the steps field has the focus, its text selected
        term.wait_for(lambda s: "1000000" in s, "the step count typed")
        term.keys("Enter")
        term.wait_for(lambda s: "running" in s and step_of(s) > 0, "the run to train", timeout=300)
    finally:
        term.close()  # kill-server: the console's terminal hangs up under it

    [row] = wait(lambda: live.find([out]), "the run to be listed")
    store = row.store
    step = live.describe(store).step
    wait(lambda: live.describe(store).step > step, "the run to go on training after the hang-up", timeout=30)
    assert live.describe(store).status == "running"

    term = Terminal(console, cwd=tmp_path)
    try:
        term.wait_for(lambda s: "Filter" in s, "the new console")
        term.keys("r")
        term.wait_for(lambda s: "quickstart" in s and "running" in s, "the run in the runs screen")
        term.keys("f")
        first = term.wait_for(lambda s: "running" in s and step_of(s) > 0 and "steps/s" in s, "the run followed live")
        term.wait_for(lambda s: step_of(s) > step_of(first), "the followed step count to grow")
        term.keys("d")
        term.wait_for(lambda s: "Langevin" in s, "the dynamics dialog")
        term.keys("Right")
        term.keys("Right")
        term.keys("Space")
        # The pick refills the fields (the preset's values for a new kind): tab on only once it has, so
        # that nothing typed below lands before the refill or in a field the refill then overwrites.
        term.wait_for(lambda s: "Langevin: the preset's values" in s, "the Langevin pick to refill the fields")
        term.keys("Tab")  # the learning rate
        term.keys("Tab")  # the temperature
        term.keys("1e-4", literal=True)
        typed = term.wait_for(lambda s: any("temperature" in ln and "1e-4" in ln for ln in s.splitlines()),
                              "the temperature typed into the dialog")
        term.keys("Enter")
        term.wait_for(lambda s: "langevin lr" in s and "T 0.0001" in " ".join(s.split()),
                      "the switch to show in the status line")
    finally:
        term.close()

    stop = subprocess.run([*shlex.split(glasslab_command()), "stop", str(store)], capture_output=True, text=True,
                          timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    t = wait(lambda: (t := Trajectory.open(store)).status == "interrupted" and t, "the run to stop", timeout=120)
    [event] = [e for e in t.events if e["kind"] == "dynamics_changed"]
    assert event["new"]["temperature"] == 1e-4, (event, typed)
    assert event["old"]["kind"] == "sgd" and event["new"]["kind"] == "langevin"
    assert 0 < event["step"] < t.attrs["total_steps"] == 1_000_000
    assert [e["kind"] for e in t.events] == ["started", "dynamics_changed", "interrupted"]
    wait(lambda: not live.describe(store).alive, "the run's process to complete its store", timeout=120)
