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
