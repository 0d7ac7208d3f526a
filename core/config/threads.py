"""How many CPU threads a run may use: the cores this process is given, not the machine's.

On a shared server or a cluster node torch's default (one OpenMP thread per
core of the machine) oversubscribes: its threads spin on cores that other jobs
hold, and a run slows 2-30x (NOTES.md, measured here).  `resolve_threads`
turns the preset's `run.threads` ("auto" or a count) into the count a run uses;
the count is recorded in the store, since a 1-thread and a 2-thread CPU run
differ in the last bit (the reductions split differently), and a resume uses
the recorded count.

"auto" is the smallest of
- the CPUs this process may run on: its affinity mask (taskset, cgroup
  cpusets), a cgroup v2/v1 CPU quota (containers, systemd slices), and
  SLURM_CPUS_PER_TASK inside a Slurm job;
- those CPUs less the ones other processes keep busy right now (each CPU's
  idle time in /proc/stat over a 0.2 s look; the 1-minute load average where
  there is no /proc, which lags by a minute and counts our own past runs), at
  least one;
- a cap for small models, whose matrix products are too small to split well
  (one thread below 100,000 parameters, four below a million);
- on a GPU, 2: the CPU only feeds the device.

GLASSLAB_THREADS=N in the environment replaces "auto" (never an explicit
count): a site default for a shared server, and how the test suite keeps every
run, subprocess CLIs included, on one thread (tests/conftest.py).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

# Models below this many parameters gain nothing past a few threads: their products are
# a few hundred microseconds, and waking more threads costs as much as they save.
SMALL_MODEL = 1_000_000
SMALL_MODEL_THREADS = 4
# Below this a second thread costs more than it gives: the quickstart (N = 19,210) took 8.2 s
# with one thread and 9.1 s with two on an idle 2-core machine (benchmarks/threads.py).
TINY_MODEL = 100_000
GPU_FEEDER_THREADS = 2
ENV = "GLASSLAB_THREADS"


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup CPU quota (v2 cpu.max, else v1 cfs), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cpus(environ: dict[str, str] | None = None, cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: affinity, cgroup quota and SLURM_CPUS_PER_TASK, the least of them."""
    environ = os.environ if environ is None else environ
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS has no affinity call
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    slurm = environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cpus = min(cpus, int(slurm))
    return max(1, cpus)


def _idle_jiffies(cpu_ids: set[int]) -> dict[int, tuple[int, int]] | None:
    """(idle + iowait, total) jiffies of each CPU in cpu_ids, from /proc/stat; None where unreadable."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpu_ids:
            ticks = [int(x) for x in fields[:8]]
            out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))
    return out or None


def busy_cpus(window_s: float = 0.2) -> float | None:
    """How many of this process's CPUs other processes keep busy now (0.0 .. cpus), or None without /proc.

    Samples each allowed CPU's idle share over `window_s` while this process sleeps, so our
    own work does not count; a CPU counts by its busy share (a half-loaded CPU adds 0.5).
    """
    try:
        ids = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    before = _idle_jiffies(ids)
    if before is None:
        return None
    time.sleep(window_s)
    after = _idle_jiffies(ids) or {}
    busy = 0.0
    for cpu, (idle0, total0) in before.items():
        idle1, total1 = after.get(cpu, (idle0, total0))
        if total1 > total0:
            busy += 1.0 - (idle1 - idle0) / (total1 - total0)
    return busy


def free_cpus(cpus: int, busy: float | None = None) -> int:
    """Of `cpus`, those that other processes are not using now (>= 1).

    busy: CPUs' worth of other work (default: `busy_cpus()`, else the 1-minute load average).
    A CPU more than 60 % busy counts as taken.
    """
    if busy is None:
        busy = busy_cpus()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            return cpus
    return max(1, min(cpus, cpus - math.floor(busy + 0.4)))


def parse_threads(setting: int | str) -> int | str:
    """A thread setting as given (run.threads, --threads): "auto", or a positive count.

    Returns "auto" or the count (a string of digits becomes an int).  Raises ValueError,
    naming what was given, for anything else (0, -2, 1.5, True, "many")."""
    if isinstance(setting, str):
        word = setting.strip().lower()
        if word == "auto":
            return "auto"
        if word.isdigit() and int(word) >= 1:
            return int(word)
    elif isinstance(setting, int) and not isinstance(setting, bool) and setting >= 1:
        return setting
    raise ValueError(f"threads must be 'auto' or a positive whole number, not {setting!r}")


def resolve_threads(setting: int | str, device: str = "cpu", n_params: int | None = None,
                    *, cpus: int | None = None, busy: float | None = None,
                    environ: dict[str, str] | None = None) -> int:
    """The intra-op thread count for a run.

    setting: a positive count (used as given) or "auto" (see the module docstring).
    device: "cpu", "cuda" or "mps" (the resolved device).  n_params: the model's N, if known.
    cpus / busy / environ: for tests; default to `usable_cpus()`, `busy_cpus()` and os.environ
    (whose GLASSLAB_THREADS replaces "auto").
    Raises ValueError for a count below 1 or a word other than "auto" (in GLASSLAB_THREADS too).
    """
    setting = parse_threads(setting)
    if setting != "auto":
        return setting
    forced = (os.environ if environ is None else environ).get(ENV, "").strip()
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ValueError(f"{ENV}={forced!r} must be a positive whole number")
        return int(forced)
    cpus = usable_cpus() if cpus is None else cpus
    n = free_cpus(cpus, busy)
    if device != "cpu":
        n = min(n, GPU_FEEDER_THREADS)
    elif n_params is not None and n_params < TINY_MODEL:
        n = 1
    elif n_params is not None and n_params < SMALL_MODEL:
        n = min(n, SMALL_MODEL_THREADS)
    return n
