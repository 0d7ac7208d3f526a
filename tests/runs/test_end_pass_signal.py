"""A stop signal during the end-of-run pass (the two-time matrices after the last step), issue 31 item 13.

SIGTERM there killed the process (-15) with the store's lock held, for the next analyze to take over.
Now the pass gives up at its next strip: exit 128 + N, one line saying so, the lock released, the run
finished, and `glasslab analyze` completes the matrices."""

import signal
import time

import numpy as np
import pytest

from glasslab.core.store import lock as store_lock
from glasslab.core.store import reader

from support.presets import tiny_toml
from support.resume import cli, finish, store_of


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_end_of_run_pass_ends_the_process_cleanly(tmp_path, sig):
    marker = tmp_path / "in-end-pass"
    out = tmp_path / "runs"
    proc = cli("run", tiny_toml(tmp_path, 200), "--no-ui", "--out", out,
               env={"GLASSLAB_FAULT_HOLD_IN_END_PASS": str(marker)})  # held inside the pass until a signal
    while not marker.exists():  # a state, not a time: the pass has begun (the run has ended)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    path = store_of(out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)  # only ends a hang
    assert proc.returncode == 128 + int(sig), (proc.returncode, err)
    assert err.splitlines() == [f"glasslab: two-time matrices not completed (stopped by {sig.name}); "
                                f"glasslab analyze {path} completes them"], err
    assert not store_lock.lock_path(path).exists()  # released, not left for a takeover
    t = reader.Trajectory.open(path)
    assert t.status == "finished" and int(t.attrs.get("two_time_complete", 0)) == 0

    code, _, err = finish("analyze", path)  # the pass is done again, in full
    assert code == 0, err
    t = reader.Trajectory.open(path)
    n = t.n_snapshots
    assert int(t.attrs["two_time_complete"]) == n
    msd = np.asarray(t.root["msd"][:n, :n])
    assert np.isfinite(msd[np.triu_indices(n)]).all()
