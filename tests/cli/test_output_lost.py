"""Output errors never end training (issue 22): a killed terminal, a closed pipe, a closed stdout.

The printer goes quiet; the run trains on to its end, or to the SIGHUP that a lost terminal
sends, which stops it with its state saved at its step and exits 129.  Each test waits for a
state (the store's snapshots, the process's end), never for wall time.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from glasslab.core.store import lock as store_lock
from glasslab.core.store import reader

from support.presets import tiny_toml as preset
from support.terminal import Terminal, glasslab_command

ROOT = Path(__file__).resolve().parents[2]

def the_store(out: Path) -> Path:
    [path] = out.glob("*.zarr")
    return path


def wait_until(predicate, what: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def snapshots(out: Path) -> int:
    found = list(out.glob("*.zarr"))
    try:
        return reader.Trajectory.open(found[0]).n_snapshots if found else 0
    except Exception:  # the store is being created
        return 0


def test_a_killed_terminal_saves_the_run_at_the_sighup(tmp_path):
    """`tmux kill-session` is what a dropped SSH connection does: the pane's process (glasslab itself,
    as over `ssh host glasslab run ...`) gets SIGHUP and its terminal fails every write with EIO."""
    out = tmp_path / "runs"
    term = Terminal(f"{glasslab_command()} run {preset(tmp_path, 10_000_000)} --no-ui --out {out}", ROOT)
    try:
        pid = int(term.tmux("display-message", "-p", "-t", "e2e", "#{pane_pid}").strip())
        term.wait_for(lambda s: " steps/s" in s, "the progress bar")
        wait_until(lambda: snapshots(out) >= 3, "three snapshots in the store")
        term.tmux("kill-session", "-t", "e2e")
        wait_until(lambda: gone(pid), "glasslab to end")
    finally:
        term.close()
    path = the_store(out)
    t = reader.Trajectory.open(path)
    assert t.status == "interrupted", t.status
    stop = t.attrs["events"][-1]
    assert stop["kind"] == "interrupted" and stop["reason"] == "SIGHUP", stop
    point = t.attrs["resume"]
    # saved at the step it stopped (by the stop itself, or by the snapshot when it stopped on a snapshot step)
    assert point["source"] in ("stop", "snapshot") and int(point["step"]) == int(stop["step"]) > 0, (point, stop)
    assert not store_lock.lock_path(path).exists()  # released, not left stale


def _run(args, *, stdout, tmp_path):
    return subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", *map(str, args)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, text=True)


def test_a_closed_pipe_stops_the_printing_not_the_run(tmp_path):
    """`glasslab run ... --no-ui | head` and `resume ... | head`: the reader is gone before the first line."""
    out, f = tmp_path / "runs", preset(tmp_path, 300)
    for args in (["run", f, "--no-ui", "--out", out], ["resume", None, "--steps", 600]):
        if args[0] == "resume":
            args[1] = the_store(out)
        p = _run(args, stdout=subprocess.PIPE, tmp_path=tmp_path)
        p.stdout.close()  # the reader has gone: every write to the pipe fails with EPIPE
        err = p.stderr.read()
        assert p.wait(timeout=300) == 0, err
        assert "Traceback" not in err and "Exception ignored" not in err, err
        t = reader.Trajectory.open(the_store(out))
        assert t.status == "finished" and t.steps[-1] == (300 if args[0] == "run" else 600)
        assert store_lock.lock_owner(the_store(out)) is None


def test_a_closed_stdout_stops_the_printing_not_the_run(tmp_path):
    out = tmp_path / "runs"
    p = subprocess.run(f"exec {glasslab_command()} run {preset(tmp_path, 200)} --no-ui --out {out} >&-", shell=True,
                       cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert reader.Trajectory.open(the_store(out)).status == "finished"


def test_the_other_commands_end_as_they_would_when_their_reader_leaves(tmp_path):
    """`glasslab sweep ... | head` with the reader gone before the first line: the local driver still
    drives every point to its end, and exits 0; then `sweep status`, `ps`, `presets list` and `presets
    show` with their reader gone exit 0 too, in silence (they used to end with Click's silent exit 1)."""
    from glasslab.core.sweep.points import status

    sweep = tmp_path / "sweep"
    commands = [["sweep", preset(tmp_path, 60), "--grid", "run.seed=0:2", "--threads", "1", "--out", sweep],
                ["sweep", "status", sweep], ["ps", "--all", tmp_path / "runs"], ["presets", "list"],
                ["presets", "show", "quickstart"], ["stop", sweep / "nothing.zarr"]]
    for args in commands:
        p = _run(args, stdout=subprocess.PIPE, tmp_path=tmp_path)
        p.stdout.close()  # every write to the pipe fails with EPIPE
        err = p.stderr.read()
        code = p.wait(timeout=300)
        assert "Traceback" not in err and "Exception ignored" not in err, (args, err)
        if args[0] == "stop":  # a real error still says what is wrong, on stderr, exit 2
            assert code == 2 and len(err.strip().splitlines()) == 1, (code, err)
            continue
        assert code == 0 and err == "", (args, code, err)
        if args[0] == "sweep" and args[1] != "status":
            _, rows = status(sweep)
            assert [r["state"] for r in rows] == ["finished", "finished"], rows
            for store in sweep.glob("*.zarr"):
                t = reader.Trajectory.open(store)
                assert t.status == "finished" and t.steps[-1] == 60
