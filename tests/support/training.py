"""A run training in a thread of the test process, with the writer and the control channel, as
`glasslab run --no-ui` composes them; requests reach it through the files, as from another process."""

from __future__ import annotations

import threading
import time

from glasslab.core.runs import control, live
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive


class Training:
    """A long tiny run in a thread, with the writer and the control channel."""

    def __init__(self, tiny, path, **over):
        self.path = path
        self.run = Run(tiny(**{"run.steps": 10_000_000, "recording.snapshots": 10, **over}))
        self.channel = control.ControlChannel(path, self.run)
        self.end = None
        self.thread = threading.Thread(target=self._go, daemon=True)
        self.thread.start()
        # Running for the channel (process.json) and for the store (its writer thread has made it):
        # until both, `glasslab ps` rightly says "starting".
        wait_until(lambda: live.describe(path).status == "running", "the run to train")

    def _go(self):
        self.end = drive(self.run, [TrajectoryWriter(self.path), self.channel])

    def finish(self):
        self.run.stop("test over")
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def wait_until(cond, what, timeout=30.0):
    """Poll cond() until it holds and return what it gave; fail naming `what` after `timeout` s (a state,
    never a duration: the timeout only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value
