"""The end-of-run pass: the whole upper triangle of the two-time matrices from the stored weights.

During a run only the rows of the online waiting times fill (core/measure/online.py); once it
has ended, this streams every pair of committed snapshots (float64, memory independent of N,
core/measure/observables.py) and stores Delta, Q, alpha_2 and Y, under the store's writer lock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from glasslab.core.store import lock as store_lock
from glasslab.core.store.layout import write_two_time
from glasslab.core.store.reader import open_group


def complete_two_time(path: str | Path, progress=None) -> int:
    """Fill the whole upper triangle of msd, overlap, alpha2, participation from the stored weights.

    Streaming, float64, memory independent of N (core/measure/observables.py).  Returns the
    snapshot count covered.  The caller must own the store (no live writer).
    """
    from glasslab.core.measure.observables import two_time_from_weights

    root = open_group(path, mode="r+")
    n = int(root.attrs.get("n_snapshots", 0))
    if n == 0 or int(root.attrs.get("two_time_complete", 0)) == n:
        return n
    f = float(root.attrs["preset"]["recording"].get("overlap_f", 100.0))
    write_two_time(root, n, two_time_from_weights(root["weights"], n, f=f, progress=progress))
    return n


class PassStopped(Exception):
    """The end-of-run pass gave up between two strips because its process was asked to end."""


def complete_store(path: str | Path, stop: Callable[[], str | None] | None = None) -> tuple[int, str]:
    """Once a run has ended: the whole upper triangle of Delta, Q, alpha2, Y from its stored weights,
    under the store's writer lock (the headless CLI and the console both end a run with this).

    stop: asked between strips; a reason (a signal's name) ends the pass there, its lock released
    and nothing marked complete, so that `glasslab analyze` does it again.
    Returns (snapshots covered, '') or (0, a one-line warning) when it could not be done
    now; `glasslab analyze` retries then.  A live writer elsewhere raises BadInput.
    """
    path = Path(path)
    try:
        return complete_locked(path, stop), ""
    except PassStopped as why:
        return 0, f"two-time matrices not completed (stopped by {why}); glasslab analyze {path} completes them"
    except (OSError, ValueError) as err:
        return 0, f"two-time matrices not completed ({err}); glasslab analyze {path} will retry"


def complete_locked(path: Path, stop: Callable[[], str | None] | None = None) -> int:
    """complete_two_time under the store's writer lock (BadInput while another writer holds it)."""
    held = store_lock.acquire(path)
    try:
        return complete_two_time(path, progress=None if stop is None else _checking(stop))
    finally:
        store_lock.release(held)


def _checking(stop: Callable[[], str | None]):
    """A progress callback that raises PassStopped once stop() gives a reason.  Test hook:
    GLASSLAB_FAULT_HOLD_IN_END_PASS=FILE holds the pass at its first strip, touching FILE, until a stop
    comes (tests/runs/test_end_pass_signal.py), so that a test can signal a process that is certain to be
    inside the pass."""
    hold = os.environ.get("GLASSLAB_FAULT_HOLD_IN_END_PASS")

    def progress(_done: int, _total: int) -> None:
        nonlocal hold
        if hold:
            Path(hold).touch()
            hold = None
            while stop() is None:
                time.sleep(0.05)  # the signal handlers run between these
        reason = stop()
        if reason:
            raise PassStopped(reason)

    return progress
