"""The synthetic stores the console tests use read back as the glasslab store they stand for."""

import numpy as np

from glasslab.core.records import SnapshotTaken
from glasslab.core.store.reader import Trajectory

from support.console import delta_law, synthetic_records, two_stores


def test_synthetic_store_reads_back(tmp_path):
    a, _ = two_stores(tmp_path)
    t = Trajectory.open(a)
    assert t.status == "finished" and t.n_snapshots == len(t.attrs["snapshot_grid"])
    assert [e["kind"] for e in t.events] == ["started", "dynamics_changed", "finished"]
    msd = t.array("msd")
    steps = t.steps
    assert msd[1, 5] == delta_law(steps[1], steps[5] - steps[1], True) and np.isnan(msd[5, 1])


def test_synthetic_records_carry_displacements_for_every_earlier_snapshot():
    snaps = [r for r in synthetic_records() if isinstance(r, SnapshotTaken)]
    assert [sorted(s.displacements) for s in snaps[:3]] == [[], [0], [0, 1]]
