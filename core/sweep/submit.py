"""Submitting a sweep's points through submitit: Slurm on a cluster, a bounded local pool on one machine.

Slurm: every point is one task of a job array (`executor.batch()`), at most K
running at once (`%K`), each with C CPUs and G GPUs, the time limit, and
submitit's `--signal=USR2@delay` so preemption and time limits checkpoint and
requeue (core/sweep/job.py).  The command returns once Slurm has the array.

Local: submitit's LocalExecutor runs each point in its own controller process,
which forwards signals and restarts a job that asks to be requeued; it starts
every job it is given at once (facebookincubator/submitit#1685), so the driver
here keeps at most K submitted and submits the next as one ends.  Each point
gets cores / K torch threads and, on a multi-GPU machine, its own
CUDA_VISIBLE_DEVICES.  The driver blocks until every point has ended.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from glasslab.core.config import threads as cpu
from glasslab.core.errors import BadInput, RunFailed
from glasslab.core.sweep.job import SIGNAL_POLL_S, PointJob

from . import manifest

LOCAL_TIME_MIN = 7 * 24 * 60  # submitit's local controller needs a limit: a week is "none"
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time(text: str) -> int:
    """A Slurm time limit -> whole minutes (rounded up): M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    m = _TIME.match(text.strip())
    if not m:
        raise BadInput(f"--time {text!r} is not a Slurm time: use minutes, H:MM:SS or D-HH:MM:SS (e.g. 4:00:00)")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is not None:  # D-H, D-H:M, D-H:M:S
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:
        seconds = a * 3600 + b * 60 + c
    elif b is not None:
        seconds = a * 60 + b
    else:
        seconds = a * 60
    if seconds <= 0:
        raise BadInput(f"--time {text!r} must be longer than zero")
    return -(-seconds // 60)


def parse_extra(items: list[str] | None) -> dict[str, Any]:
    """--slurm-extra qos=high --slurm-extra=--exclusive -> submitit's additional_parameters."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, _, value = item.lstrip("-").partition("=")
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", key):
            raise BadInput(f"--slurm-extra {item!r}: give an sbatch option as name=value (e.g. qos=high)")
        out[key.replace("-", "_")] = value if value else True
    return out


def visible_gpus() -> list[int]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [int(x) for x in env.split(",") if x.strip().isdigit()]
    import torch

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def executor_config(kind: str, *, parallel: int | None, threads: int | None, gpus_per_run: int | None,
                    cpus_per_run: int | None, partition: str | None, time_limit: str | None,
                    slurm_extra: list[str] | None, signal_delay_s: int = 90) -> dict[str, Any]:
    """Check the executor options (BadInput on a bad one) into the manifest's `executor` entry."""
    if kind not in ("local", "slurm"):
        raise BadInput(f"--executor {kind!r} is not known: use local or slurm")
    for name, v in (("--parallel", parallel), ("--threads", threads), ("--cpus-per-run", cpus_per_run)):
        if v is not None and v < 1:
            raise BadInput(f"{name} must be >= 1, got {v}")
    if gpus_per_run is not None and gpus_per_run < 0:
        raise BadInput(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
    if signal_delay_s < 1:
        raise BadInput(f"--signal-delay must be >= 1 s, got {signal_delay_s}")
    cfg: dict[str, Any] = {"kind": kind, "partition": partition, "signal_delay_s": signal_delay_s,
                           "slurm_extra": parse_extra(slurm_extra),
                           "time_min": parse_time(time_limit) if time_limit else None}
    if kind == "slurm":
        if shutil.which("sbatch") is None:
            raise BadInput("--executor slurm: sbatch is not on PATH (no Slurm client here): use --executor local")
        cpus = cpus_per_run or 1
        cfg.update(parallel=parallel, cpus_per_run=cpus, threads=threads or cpus, gpus_per_run=gpus_per_run or 0)
        cfg["time_min"] = cfg["time_min"] or 4 * 60
        return cfg
    if partition or slurm_extra:
        raise BadInput("--slurm-partition and --slurm-extra need --executor slurm")
    k = parallel or 1
    have = visible_gpus()
    # Default: one GPU per point when every running point can have its own, else CPU runs.
    gpus = gpus_per_run if gpus_per_run is not None else (1 if have and k <= len(have) else 0)
    if gpus:
        if k * gpus > len(have):
            raise BadInput(f"--parallel {k} with --gpus-per-run {gpus} needs {k * gpus} GPUs, this machine shows "
                           f"{len(have)}: lower --parallel, or --gpus-per-run 0 for CPU runs")
    cpus = cpus_per_run or max(1, cpu.usable_cpus() // k)  # cores / K each unless told
    cfg.update(parallel=k, cpus_per_run=cpus, threads=threads or cpus, gpus_per_run=gpus)
    return cfg


# ------------------------------------------------------------------ Slurm

def submit_slurm(sweep_dir: Path, ids: list[str]) -> list[str]:
    """Submit the points as one job array; returns the Slurm job ids (also written to the manifest)."""
    import submitit
    from submitit.core.utils import FailedJobError

    m = manifest.read(sweep_dir)
    cfg = m["executor"]
    ex = submitit.SlurmExecutor(folder=str(sweep_dir / "jobs"), max_num_timeout=3)
    params: dict[str, Any] = dict(time=cfg["time_min"], cpus_per_task=cfg["cpus_per_run"], signal_delay_s=cfg["signal_delay_s"],
                                  stderr_to_stdout=True, job_name=f"glasslab-{m['name']}"[:60],
                                  array_parallelism=cfg.get("parallel") or 256)
    if cfg["gpus_per_run"]:
        params["gpus_per_node"] = cfg["gpus_per_run"]
    if cfg.get("partition"):
        params["partition"] = cfg["partition"]
    if cfg.get("slurm_extra"):
        params["additional_parameters"] = dict(cfg["slurm_extra"])
    ex.update_parameters(**params)
    _mark(sweep_dir, ids, state="submitted", reason="", job_id=None)
    try:
        # submitit echoes sbatch's stderr on a failure; the error below carries it, once.
        with contextlib.redirect_stderr(io.StringIO()), ex.batch():
            jobs = [ex.submit(PointJob(sweep_dir, pid, cfg["threads"])) for pid in ids]
    except (FailedJobError, OSError) as err:
        _mark(sweep_dir, ids, state="pending")
        last = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise RunFailed(f"sbatch refused the sweep ({last}); nothing was submitted: fix that, then glasslab sweep "
                        f"resume {sweep_dir} (it takes --slurm-partition, --time, ... to change them)") from None
    out = [j.job_id for j in jobs]
    _set_job_ids(sweep_dir, dict(zip(ids, out)), host=None)
    return out


# ------------------------------------------------------------------ local

def run_local(sweep_dir: Path, ids: list[str], progress: Callable[[str, dict], None] | None = None) -> None:
    """Run the points with at most K at once; returns when all have ended (or the sweep was cancelled)."""
    import submitit

    m = manifest.read(sweep_dir)
    cfg = m["executor"]
    k, gpus = int(cfg["parallel"]), int(cfg.get("gpus_per_run") or 0)
    have = visible_gpus() if gpus else []
    free_slots = [have[i * gpus:(i + 1) * gpus] for i in range(k)] if gpus else [[] for _ in range(k)]
    ex = submitit.LocalExecutor(folder=str(sweep_dir / "jobs"), max_num_timeout=3)
    host = socket.gethostname()
    claim_driver(sweep_dir)
    try:
        _drive_local(sweep_dir, cfg, ex, list(ids), free_slots, host, progress)
    finally:
        manifest.update(sweep_dir, lambda m: m.pop("driver", None))


def claim_driver(sweep_dir: Path) -> None:
    """Record this process as the sweep's local driver; BadInput while another live one holds it
    (two drivers would both submit the pending points)."""
    def change(m):
        d = m.get("driver")
        if d and manifest.job_alive(f"local:{d['pid']}", d.get("host")) is not False and d["pid"] != os.getpid():
            raise BadInput(f"glasslab sweep (pid {d['pid']} on {d.get('host')}) is still running this sweep: "
                           f"let it finish, or glasslab sweep cancel {sweep_dir} first")
        m["driver"] = {"pid": os.getpid(), "host": socket.gethostname()}

    manifest.update(sweep_dir, change)


def _drive_local(sweep_dir: Path, cfg: dict, ex, todo: list[str], free_slots: list[list[int]], host: str,
                 progress: Callable[[str, dict], None] | None) -> None:
    running: dict[str, tuple[Any, list[int]]] = {}
    ended: queue.SimpleQueue = queue.SimpleQueue()
    while todo or running:
        if todo and manifest.read(sweep_dir).get("cancelled"):
            _mark(sweep_dir, todo, state="cancelled", reason="the sweep was cancelled before it started")
            todo = []
        while todo and free_slots:
            pid, slot = todo.pop(0), free_slots.pop(0)
            ex.update_parameters(timeout_min=cfg["time_min"] or LOCAL_TIME_MIN, signal_delay_s=cfg["signal_delay_s"],
                                 gpus_per_node=len(slot), visible_gpus=tuple(slot), stderr_to_stdout=True)
            _mark(sweep_dir, [pid], state="submitted", reason="", job_id=None)
            job = ex.submit(PointJob(sweep_dir, pid, cfg["threads"]))
            _set_job_ids(sweep_dir, {pid: f"local:{job.job_id}"}, host=host)
            running[pid] = (job, slot)
            threading.Thread(target=_wait_for, args=(job, pid, ended), daemon=True).start()
        if not running:
            break
        pid = _next_ended(ended)
        job, slot = running.pop(pid)
        free_slots.append(slot)
        p = manifest.point(manifest.read(sweep_dir), pid)
        if p["state"] in manifest.ACTIVE:  # the job died without saying how it ended
            p = manifest.set_point(sweep_dir, pid, state="interrupted",
                                   reason="the point's process ended without a result (killed?)")
        if progress is not None:
            progress(pid, p)


def _next_ended(ended: queue.SimpleQueue) -> str:
    """The next point to end, in timed waits: a Ctrl-C that the kernel hands to another thread (or
    that came while the driver was stopped) still reaches the main thread (see PointJob.__call__)."""
    while True:
        try:
            return ended.get(timeout=SIGNAL_POLL_S)
        except queue.Empty:
            continue


def _wait_for(job, pid: str, ended: queue.SimpleQueue) -> None:
    job._process.wait()  # submitit's controller: it ends when the point's job has ended for good
    ended.put(pid)


def _mark(sweep_dir: Path, ids: list[str], **fields) -> None:
    def change(m):
        for pid in ids:
            manifest.point(m, pid).update(fields, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))

    manifest.update(sweep_dir, change)


def _set_job_ids(sweep_dir: Path, job_ids: dict[str, str], host: str | None) -> None:
    """Record job ids without touching a state the job itself may already have written."""
    def change(m):
        for pid, jid in job_ids.items():
            manifest.point(m, pid).update(job_id=jid, host=host)

    manifest.update(sweep_dir, change)


# ------------------------------------------------------------------ resume, cancel

def to_resubmit(m: dict[str, Any], retry_failed: bool = False) -> list[str]:
    """Points that are not finished and have no live job (failed ones only when asked)."""
    states = manifest.RESUBMIT + (("failed",) if retry_failed else ())
    return [p["id"] for p in manifest.reconcile(m)["points"] if p["state"] in states]


def cancel(sweep_dir: Path) -> list[str]:
    """Stop the sweep: no more submissions, active jobs signalled to stop cleanly; returns their job ids."""
    def change(m):
        m["cancelled"] = True
        active = [dict(p) for p in m["points"] if p["state"] in manifest.ACTIVE and p.get("job_id")]
        for p in m["points"]:
            # Not running yet (or waiting after a requeue): no job of theirs will say so, this does.
            # One that starts meanwhile writes `running`, then `cancelled` when its SIGTERM comes.
            if p["state"] in ("pending", "submitted", "requeued"):
                p.update(state="cancelled", reason="cancelled before it ran to the end")
        return active

    active = manifest.update(sweep_dir, change)
    signalled = []
    for p in active:
        jid = p["job_id"]
        if jid.startswith("local:"):
            if p.get("host") not in (None, socket.gethostname()):
                continue
            try:  # the controller forwards SIGTERM to the point, which stops at a step boundary
                os.kill(int(jid.split(":", 1)[1]), signal.SIGTERM)
            except ProcessLookupError:
                continue
        else:
            import subprocess

            subprocess.run(["scancel", jid], capture_output=True, timeout=60)
        signalled.append(jid)
    return signalled


def reconfigure(sweep_dir: Path, **changes) -> dict[str, Any]:
    """`sweep resume` with executor options: the manifest's settings with these replaced, checked as new."""
    changes = {k: v for k, v in changes.items() if v is not None}
    m = manifest.read(sweep_dir)
    cfg = m["executor"]
    if not changes:
        return cfg
    old = {"parallel": cfg.get("parallel"), "threads": cfg.get("threads"), "gpus_per_run": cfg.get("gpus_per_run"),
           "cpus_per_run": cfg.get("cpus_per_run"), "partition": cfg.get("partition"),
           "time_limit": str(cfg["time_min"]) if cfg.get("time_min") else None,
           "slurm_extra": [f"{k}={v}" for k, v in (cfg.get("slurm_extra") or {}).items()] or None,
           "signal_delay_s": cfg.get("signal_delay_s", 90)}
    if "cpus_per_run" in changes and "threads" not in changes:
        old["threads"] = None  # threads follow the new CPU count
    new = executor_config(cfg["kind"], **{**old, **changes})
    manifest.update(sweep_dir, lambda m: m.__setitem__("executor", new))
    return new


def reopen(sweep_dir: Path, ids: list[str]) -> None:
    """Before a resume: clear the cancel flag and put the chosen points back to pending."""
    def change(m):
        m["cancelled"] = False
        for pid in ids:
            manifest.point(m, pid).update(state="pending")

    manifest.update(sweep_dir, change)
