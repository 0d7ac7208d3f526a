"""One sweep point as a submitit job: resume its store if there is one, else start it.

`PointJob(sweep_dir, point_id, threads)` is what submitit pickles and runs, on
a Slurm node or in a local submitit controller.  The run trains in a thread of
the job process, and the main thread waits for it, because submitit's signal
handler runs in the main thread: on its preemption/timeout signal (USR2,
`--signal=USR2@delay`) the handler calls `checkpoint()`, which stops the run at
the next step boundary, waits until the writer has closed the store (resume
state saved), records a `requeued` event in the store, and hands submitit a
fresh PointJob; submitit then requeues the job and exits.  The requeued job
finds its own store at the fixed path and continues bitwise (core/runs/resume.py).

SIGTERM and SIGINT (scancel, `glasslab sweep cancel`) stop the run cleanly too;
the point ends `interrupted` (or `cancelled` when the sweep was cancelled) and
`glasslab sweep resume` continues it.  A point that fails for a reason of its
own (it diverges, its data is bad) is marked failed with the reason and
returns normally, so neither submitit nor Slurm retries it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from glasslab.core.config import presets
from glasslab.core.errors import BadInput, GlasslabError
from glasslab.core.store import events as store_events
from glasslab.core.store import paths, reader

from . import manifest

SIGNAL_POLL_S = 0.5  # the longest a signal waits for the main thread (see PointJob.__call__)


def job_id() -> str:
    """This job's id: the Slurm job (array task) id, or local:PID of the submitit controller."""
    if os.environ.get("SUBMITIT_EXECUTOR") == "local":
        return f"local:{os.environ.get('SUBMITIT_LOCAL_JOB_ID', os.getppid())}"
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID", f"pid:{os.getpid()}")


def torch_threads(threads: int) -> None:
    """torch's intra-op threads (0 leaves them); called in the training thread, since some
    OpenMP builds keep the count per thread."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def set_threads(preset: presets.Preset, threads: int) -> presets.Preset:
    """A new point's CPU threads: also its preset's run.threads where glasslab has that field."""
    torch_threads(threads)
    if threads > 0 and any(f.name == "threads" for f in dataclasses.fields(presets.RunConfig)):
        preset = presets.with_overrides(preset, {"run.threads": threads})
    return preset


class PointJob:
    """The callable submitit runs for one point (and re-runs after a requeue)."""

    def __init__(self, sweep_dir: str | Path, point_id: str, threads: int = 0):
        self.sweep_dir = str(Path(sweep_dir).resolve())
        self.point_id = point_id
        self.threads = threads
        self._reset()

    def _reset(self) -> None:
        self._run = None
        self._thread: threading.Thread | None = None
        self._stop_reason: str | None = None
        self._outcome: dict[str, Any] | None = None

    def __getstate__(self):
        return {"sweep_dir": self.sweep_dir, "point_id": self.point_id, "threads": self.threads}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    # -- in the job process ---------------------------------------------------------
    def __call__(self) -> dict[str, Any]:
        def stop(signum, _frame):
            self.stop(signal.Signals(signum).name)

        # submitit ignores SIGTERM (it waits for USR2); a cancel should stop the run cleanly.
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, stop)
        self._thread = threading.Thread(target=self._train, name="glasslab-point", daemon=True)
        self._thread.start()
        try:
            # submitit's USR2 handler runs here, in the main thread, between two timed waits.  An untimed
            # join() hears a signal only if the kernel hands it to this thread; one sent while the job
            # was stopped (Slurm's suspend, gang scheduling, a SIGSTOP) or picked up by the training
            # thread trips Python's flag while this thread sleeps on until the run ends, and the
            # preemption is lost.
            while self._thread.is_alive():
                self._thread.join(timeout=SIGNAL_POLL_S)
        except Exception as err:
            # submitit's handler declines to requeue (timed out more than max_num_timeout times)
            # after checkpoint() saved everything: say so instead of leaving "requeued".
            if type(err).__name__ == "UncompletedJobError":
                if (self._outcome or {}).get("state") in manifest.DONE:
                    return self._outcome  # the run ended before the signal: nothing was preempted
                manifest.set_point(self.sweep_dir, self.point_id, state="interrupted",
                                   reason=f"not requeued ({err}); glasslab sweep resume continues it")
            raise
        return self._outcome or {"state": "failed", "reason": "the training thread ended without an outcome"}

    def stop(self, reason: str) -> None:
        self._stop_reason = reason
        if self._run is not None:
            self._run.stop(reason)

    def checkpoint(self, *args, **kwargs):
        """submitit's preemption hook: stop, wait for the store to close, requeue a fresh job."""
        import submitit

        self.stop("preempted")
        if self._thread is not None:
            self._thread.join()
        outcome = self._outcome or {}
        if outcome.get("state") in manifest.DONE:
            return None  # nothing left to do: submitit records the job as over instead of requeueing
        m = manifest.read(self.sweep_dir)
        path = Path(self.sweep_dir) / manifest.point(m, self.point_id)["store"]
        step = outcome.get("step", -1)
        if path.exists():
            store_events.append_event(path, {"step": step, "kind": "requeued", "job_id": job_id(), "reason": "preempted"})
        manifest.set_point(self.sweep_dir, self.point_id, state="requeued", reason=f"preempted at step {step}")
        return submitit.helpers.DelayedSubmission(PointJob(self.sweep_dir, self.point_id, self.threads))

    def _train(self) -> None:
        try:
            self._outcome = self._train_point()
        except GlasslabError as err:
            self._outcome = {"state": "failed", "reason": str(err)}
        except BaseException as err:  # noqa: BLE001 - any crash is this point's failure, recorded once
            traceback.print_exc()
            self._outcome = {"state": "failed", "reason": f"{type(err).__name__}: {err}"}
        if self._outcome["state"] != "interrupted" or self._stop_reason != "preempted":
            fields = {k: v for k, v in self._outcome.items() if k != "step"}
            fields["ended_at"] = time.time()
            manifest.set_point(self.sweep_dir, self.point_id, **fields)

    def _train_point(self) -> dict[str, Any]:
        from glasslab.core.records import RunDiverged, RunFinished, RunInterrupted
        from glasslab.core.runs import headless, resume
        from glasslab.core.train.run import Run

        m = manifest.read(self.sweep_dir)
        pt = manifest.point(m, self.point_id)
        path = Path(self.sweep_dir) / pt["store"]
        manifest.set_point(self.sweep_dir, self.point_id, state="running", reason="", job_id=job_id(),
                           host=socket.gethostname(), pid=os.getpid(), started_at=time.time(),
                           gpus=os.environ.get("CUDA_VISIBLE_DEVICES"), attempts=int(pt.get("attempts", 0)) + 1)
        lock = None
        existing = _stored_status(path)
        if existing == "finished":
            return self._finished(path)
        if existing == "diverged":
            return {"state": "failed", "reason": "diverged (see the store's events)"}
        if existing == "resumable":
            _note_slurm_requeue(path)
            torch_threads(self.threads)  # a resume keeps the store's preset (and its run.threads, if any)
            run, lock = resume.prepare(path)
        else:
            if existing == "unusable":  # killed before its first committed snapshot: start again
                paths.discard_unusable(path)
            preset = presets.with_overrides(presets.from_stored(m["preset"]), pt["overrides"])
            run = Run(set_threads(preset, self.threads))
        self._run = run
        if self._stop_reason:
            run.stop(self._stop_reason)
        end = headless.train(run, path, lock=lock, signals=False).end  # the scheduler's signals reach __call__
        if isinstance(end, RunFinished):
            return self._finished(path)
        if isinstance(end, RunDiverged):
            return {"state": "failed", "reason": f"diverged: {end.what} not finite at step {end.step}", "step": end.step}
        if isinstance(end, RunInterrupted):
            if end.reason.startswith("out of memory"):
                return {"state": "failed", "reason": end.reason, "step": end.step}
            cancelled = manifest.read(self.sweep_dir).get("cancelled", False)
            return {"state": "cancelled" if cancelled else "interrupted",
                    "reason": f"stopped ({end.reason}) at step {end.step}", "step": end.step}
        return {"state": "failed", "reason": f"the run ended without an end record ({end!r})"}

    def _finished(self, path: Path) -> dict[str, Any]:
        """Complete the two-time matrices and keep the point's headline numbers in the manifest."""
        from glasslab.core.analysis.report import analyze_store, verdict_of
        from glasslab.core.store.completion import complete_store

        complete_store(path)
        summary: dict[str, Any] = {}
        try:
            r = analyze_store(path, n_boot=50)
            a = r.get("analysis") or {}
            summary = {"final_train_loss": r["final"].get("train_loss"), "verdict": verdict_of(r),
                       "mu": (a.get("aging") or {}).get("all", {}).get("mu"),
                       "late_slope": (a.get("late_slope") or {}).get("slope")}
        except BadInput as err:
            summary = {"analysis_error": str(err)}
        return {"state": "finished", "reason": "", "summary": summary}


def _note_slurm_requeue(path: Path) -> None:
    """A job Slurm restarted by itself (scontrol requeue, preemption in REQUEUE mode: SIGTERM, not
    submitit's USR2) records its requeue too, unless checkpoint() already did."""
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    if not restarts:
        return
    attrs = dict(reader.open_group(path).attrs)
    events = attrs.get("events", [])
    if events and events[-1].get("kind") == "requeued":
        return
    step = events[-1].get("step", -1) if events else -1
    store_events.append_event(path, {"step": step, "kind": "requeued", "job_id": job_id(),
                        "reason": f"restarted by Slurm (restart {restarts})"})


def _stored_status(path: Path) -> str:
    """none | unusable (no committed snapshot) | resumable | finished | diverged."""
    if not path.exists():
        return "none"
    try:
        attrs = dict(reader.open_group(path).attrs)
    except BadInput:
        return "unusable"
    if attrs.get("status") == "finished":
        return "finished"
    if attrs.get("status") == "diverged":
        return "diverged"
    if int(attrs.get("n_snapshots", 0)) == 0 or not attrs.get("resume"):
        return "unusable"
    return "resumable"
