"""No terminal, no console (issue 22): a Slurm batch script, `</dev/null >file`, `echo q | glasslab`.

`run PRESET` without --no-ui trains headless and says so in one line; `glasslab` and `glasslab follow`
exit 2 at once with one line instead of opening a full-screen app that hangs until killed.
"""

import os
import subprocess
import sys
from pathlib import Path

from glasslab.core.store import reader

from support.presets import tiny_toml as preset

ROOT = Path(__file__).resolve().parents[2]
NEEDS = "glasslab: error: the console needs a terminal: use --no-ui, --detach or glasslab ps"


def glasslab(*args, stdin=subprocess.DEVNULL, input=None, env=None):
    # the timeout only ends a hang (the bug): nothing here depends on how long a step takes
    return subprocess.run([sys.executable, "-m", "glasslab.tui.cli", *map(str, args)], cwd=ROOT, stdin=stdin,
                          input=input, capture_output=True, text=True, timeout=300, env=env)


def test_without_a_terminal_run_trains_headless_and_the_console_refuses(tmp_path):
    out = tmp_path / "runs"
    res = glasslab("run", preset(tmp_path, 200), "--out", out)
    assert res.returncode == 0, res.stderr
    assert "glasslab: no terminal: training headless, as with --no-ui" in res.stderr.splitlines()
    [store] = out.glob("*.zarr")
    assert reader.Trajectory.open(store).status == "finished" and "step 200/200" in res.stdout

    for args in (["follow", store], [], ["console", "--out", out]):
        res = glasslab(*args, env={**os.environ, "GLASSLAB_OUT": str(out)})
        assert res.returncode == 2 and res.stderr.splitlines() == [NEEDS], (args, res.stderr)
    res = glasslab(stdin=None, input="q\n")  # echo q | glasslab
    assert res.returncode == 2 and res.stderr.splitlines() == [NEEDS], res.stderr


def in_pty(*args, env):
    """glasslab with stdin and stdout on a fresh pseudo-terminal (a real tty), stderr captured apart;
    the pty's output is drained so a full-screen app could never block on it."""
    import pty
    import threading

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE, text=True, start_new_session=True)
    os.close(slave)
    shown = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every holder of the slave side has gone
                return
            if not data:
                return
            shown.append(data)

    reader_thread = threading.Thread(target=drain, daemon=True)
    reader_thread.start()
    try:
        _, err = proc.communicate(timeout=300)  # only ends a hang (the bug: a console that takes the screen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, err, b"".join(shown).decode(errors="replace")


def test_term_dumb_is_treated_as_no_terminal(tmp_path):
    """Issue 31 item 7: under TERM=dumb (Emacs' shell, IDE consoles) the console took the screen with
    mouse tracking and 24-bit colour codes.  Now it is no terminal: the console refuses in one line,
    and `run PRESET` trains headless and says why."""
    out = tmp_path / "runs"
    env = {**os.environ, "TERM": "dumb", "GLASSLAB_OUT": str(out)}
    rc, err, shown = in_pty("run", preset(tmp_path, 100), "--out", out, env=env)
    assert rc == 0, err
    assert "glasslab: TERM=dumb: training headless, as with --no-ui" in err.splitlines()
    assert "100/100" in shown and "tiny: finished" in shown and "\x1b[?1000h" not in shown  # the printer's lines, no mouse tracking
    [store] = out.glob("*.zarr")
    assert reader.Trajectory.open(store).status == "finished"

    line = "glasslab: error: the console needs a terminal that can draw (TERM=dumb here): use --no-ui, --detach or glasslab ps"
    for args in ([], ["follow", store]):
        rc, err, shown = in_pty(*args, env=env)
        assert rc == 2 and err.splitlines() == [line], (args, err)
        assert "\x1b[" not in shown, shown[:200]
