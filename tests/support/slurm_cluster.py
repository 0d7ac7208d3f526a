"""A real one-node Slurm cluster for the tests: munged, slurmctld and slurmd on this machine.

Debian's slurm-wlm and munge (installed by .ci/run) run as root with a small
slurm.conf in a temporary directory that SLURM_CONF points to (daemons and
clients both read it): proctrack/linuxproc, task/none, no accounting
(submitit's sacct warnings are then harmless).  `slurm_cluster` is a module
fixture: it starts the daemons once for the module that uses it, yields the
SLURM_CONF path, and stops them by the pids in their pid files right after
that module's tests (slurmctld takes seconds to stop: under make test's two
workers that overlaps the other worker's tests instead of ending the run).  Where Slurm or munge is missing, or we
are not root, the tests that use it skip with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
START_TIMEOUT_S = 60.0


def missing_reason() -> str | None:
    absent = [c for c in NEEDED if shutil.which(c) is None and not Path("/usr/sbin", c).exists()]
    if absent:
        return f"Slurm is not installed here (no {', '.join(absent)}): apt-get install slurm-wlm munge, as .ci/run does"
    if os.geteuid() != 0:
        return "the one-node Slurm cluster runs its daemons as root; these tests run as another user"
    return None


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def write_conf(d: Path, host: str, cpus: int) -> Path:
    conf = d / "slurm.conf"
    conf.write_text(f"""ClusterName=glasslab-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort=6917
SlurmdPort=6918
KillWait=10
MinJobAge=600
NodeName={host} CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    (d / "state").mkdir(exist_ok=True)
    (d / "spool").mkdir(exist_ok=True)
    return conf


def _munge_running() -> bool:
    try:
        return subprocess.run(["munge", "-n"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _wait(what: str, ok, log: Path | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.2)  # polling a daemon's readiness, with a deadline
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {START_TIMEOUT_S:.0f} s\n{tail}")


def _kill_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


@contextlib.contextmanager
def one_node_cluster(d: Path):
    """Start munged (unless running), slurmctld and slurmd with a slurm.conf in `d`; stop them after."""
    host = socket.gethostname()
    conf = write_conf(d, host, os.cpu_count() or 1)
    old_conf = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    started_munge = False
    try:
        if not _munge_running():
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            subprocess.run([_exe("munged"), "--force"], check=True, capture_output=True, timeout=30)
            started_munge = True
            _wait("munged", _munge_running)
        subprocess.run([_exe("slurmctld")], check=True, capture_output=True, timeout=30)
        _wait("slurmctld", lambda: "UP" in subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout,
              d / "slurmctld.log")
        subprocess.run([_exe("slurmd")], check=True, capture_output=True, timeout=30)
        _wait("slurmd (node idle)", lambda: "idle" in subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                                                      text=True).stdout, d / "slurmd.log")
        yield conf
    finally:
        subprocess.run(["scancel", "--full", "-u", "root"], capture_output=True, timeout=30)
        _kill_pidfile(d / "slurmd.pid")
        _kill_pidfile(d / "slurmctld.pid")
        if started_munge:
            _kill_pidfile(Path("/run/munge/munged.pid"))
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """Start a one-node cluster; yields the slurm.conf path (SLURM_CONF is set meanwhile)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with one_node_cluster(tmp_path_factory.mktemp("slurm")) as conf:
        yield conf
