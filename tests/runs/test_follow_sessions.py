"""Two followers of one store see a run that is stopped and continued (issue 31.6): a follower
that has read the end notices the store being written again by a new session (a resume, by any
process) and follows it: its RunStarted (resumed, at the step it continues from), its rows, its
own end.  Before, a follower stopped reading at the first end, and a second console kept showing
"interrupted" while the run trained."""

from __future__ import annotations

import threading

from glasslab.core.records import RunInterrupted, RunStarted, StepLogged
from glasslab.core.runs import headless, resume
from glasslab.core.runs.follow import StoreFollower

from support.training import Training, wait_until


class StopAt:
    def __init__(self, run, step):
        self.run, self.step = run, step

    def handle(self, record):
        if isinstance(record, StepLogged) and record.step >= self.step:
            self.run.stop("second stop")


def poll_until(follower, seen, cond, what):
    def look():
        seen.extend(follower.poll())
        return cond(seen)

    wait_until(look, what, timeout=120)


def test_two_followers_follow_a_stopped_run_into_its_continuation(tiny, tmp_path):
    path = tmp_path / "run.zarr"
    t = Training(tiny, path)
    followers = {"A": StoreFollower(path), "B": StoreFollower(path)}
    seen = {k: [] for k in followers}
    for k, f in followers.items():
        poll_until(f, seen[k], lambda rs: any(isinstance(r, StepLogged) for r in rs), f"{k} to read the run")
    t.finish()
    first_end = t.end
    for k, f in followers.items():
        poll_until(f, seen[k], lambda rs: rs and isinstance(rs[-1], RunInterrupted), f"{k} to read the stop")
        assert seen[k][-1].step == first_end.step
        assert f.poll() == []  # nothing new while nobody writes
        seen[k].clear()

    run, lock = resume.prepare(path)  # the continuation, as `c` in console A starts it
    stop = StopAt(run, first_end.step + 200)
    worker = threading.Thread(target=headless.train, args=(run, path), kwargs={"lock": lock, "sinks": [stop],
                                                                             "signals": False})
    worker.start()
    try:
        for k, f in followers.items():
            poll_until(f, seen[k], lambda rs: rs and isinstance(rs[-1], RunInterrupted), f"{k} to follow the continuation")
            records = seen[k]
            assert isinstance(records[0], RunStarted) and records[0].resumed, records[:2]
            assert records[0].start_step == first_end.step
            steps = [r.step for r in records if isinstance(r, StepLogged)]
            assert steps and min(steps) > first_end.step and steps == sorted(steps)
            assert records[-1].reason == "second stop" and records[-1].step >= first_end.step + 200
    finally:
        worker.join(timeout=120)
