"""A new store's name: claimed atomically, so two runs started in the same second into one --out get two
stores (issue 21, item 4); a run name over the limit says the limit (item 8)."""

from __future__ import annotations

import datetime
import threading

import pytest

from glasslab.core.config import presets
from glasslab.core.errors import BadInput
from glasslab.core.store import paths, reader
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run

from support.presets import tiny_preset

SECOND = datetime.datetime(2026, 1, 2, 3, 4, 5)


def test_two_runs_in_the_same_second_get_two_stores_and_both_finish(tmp_path):
    """Both runs picked quick-20260102-030405.zarr (the name was chosen, not claimed): the second
    died on zarr's mode 'w-' and both shared one process.json.  Now the name is claimed by mkdir."""
    got, barrier = [], threading.Barrier(4)

    def claim():
        barrier.wait()
        got.append(paths.new_run_path(tmp_path, "quick", now=SECOND))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in got) == ["quick-20260102-030405-2.zarr", "quick-20260102-030405-3.zarr",
                                           "quick-20260102-030405-4.zarr", "quick-20260102-030405.zarr"]
    for path in got[:2]:  # a claimed (empty) directory takes the store
        writer = TrajectoryWriter(path)
        for record in Run(tiny_preset(**{"run.steps": 40})):
            writer.handle(record)
        writer.close()
        assert reader.Trajectory.open(path).status == "finished"


def test_a_detached_runs_control_folder_also_takes_the_name(tmp_path):
    (tmp_path / f"quick-20260102-030405.zarr{paths.CONTROL_SUFFIX}").mkdir()
    assert paths.new_run_path(tmp_path, "quick", now=SECOND).name == "quick-20260102-030405-2.zarr"


def test_a_run_name_over_the_limit_says_the_limit():
    with pytest.raises(BadInput, match=r"run.name is 101 characters long: the limit is 100"):
        presets.with_overrides(tiny_preset(), {"run.name": "a" * 101})
    with pytest.raises(BadInput, match="must be a plain name"):
        presets.with_overrides(tiny_preset(), {"run.name": "../x"})
    assert presets.with_overrides(tiny_preset(), {"run.name": "a" * 100}).run.name == "a" * 100
