"""core/config/threads.py: the thread count a run takes from the CPUs it is given, not the machine's."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from glasslab.core.config import threads


def test_a_count_is_used_as_given_and_nonsense_is_refused():
    assert threads.resolve_threads(3, "cpu", 10) == 3
    assert threads.resolve_threads("2", "cpu") == 2
    for bad in (0, -1, "zero", "1.5", True):
        with pytest.raises(ValueError, match="threads must be"):
            threads.resolve_threads(bad)


def test_auto_takes_the_free_cpus_and_caps_small_models_and_gpu_feeders():
    assert threads.resolve_threads("auto", "cpu", 50_000_000, cpus=16, busy=0.0, environ={}) == 16
    assert threads.resolve_threads("auto", "cpu", 407_050, cpus=16, busy=0.0, environ={}) == threads.SMALL_MODEL_THREADS
    assert threads.resolve_threads("auto", "cpu", 19_210, cpus=16, busy=0.0, environ={}) == 1  # tiny: one thread
    assert threads.resolve_threads("AUTO", "cuda", 50_000_000, cpus=16, busy=0.0, environ={}) == threads.GPU_FEEDER_THREADS
    assert threads.resolve_threads("auto", "cpu", 407_050, cpus=2, busy=1.0, environ={}) == 1  # one core held by another job
    assert threads.resolve_threads("auto", "cpu", 407_050, cpus=2, busy=0.3, environ={}) == 2  # background noise
    assert threads.resolve_threads("auto", "cpu", 407_050, cpus=2, busy=5.0, environ={}) == 1  # never below one


def test_glasslab_threads_in_the_environment_replaces_auto_only():
    assert threads.resolve_threads("auto", "cpu", 10, cpus=16, busy=0.0, environ={"GLASSLAB_THREADS": "3"}) == 3
    assert threads.resolve_threads(2, "cpu", 10, environ={"GLASSLAB_THREADS": "3"}) == 2
    with pytest.raises(ValueError, match="GLASSLAB_THREADS"):
        threads.resolve_threads("auto", environ={"GLASSLAB_THREADS": "many"})


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_usable_cpus_reads_the_cgroup_quota_and_slurm(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert threads.usable_cpus({}, tmp_path) == affinity              # no cgroup files: the affinity mask
    write(tmp_path / "v2" / "cpu.max", "max 100000\n")
    assert threads.usable_cpus({}, tmp_path / "v2") == affinity       # unlimited
    write(tmp_path / "v2" / "cpu.max", "50000 100000\n")
    assert threads.usable_cpus({}, tmp_path / "v2") == 1              # half a CPU still gets one thread
    write(tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us", "100000\n")
    write(tmp_path / "v1" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert threads.usable_cpus({}, tmp_path / "v1") == 1
    assert threads.usable_cpus({"SLURM_CPUS_PER_TASK": "1"}, tmp_path) == 1
    assert threads.usable_cpus({"SLURM_CPUS_PER_TASK": "999"}, tmp_path) == affinity


def test_busy_cpus_sees_a_spinning_process():
    if threads.busy_cpus() is None:
        pytest.skip("no /proc/stat here")
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        seen = max(threads.busy_cpus(0.3) for _ in range(3))
    finally:
        spin.kill()
        spin.wait()
    assert seen >= 0.8  # one CPU's worth, whatever else the machine does
