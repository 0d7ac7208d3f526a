"""Read-only stores (issue 21, item 7): analyze of a store killed before its end-of-run pass and
resume of an interrupted one ended in a traceback (OSError: [Errno 30] ... zarr.lock).  Tests run as
root, where chmod does not stop writes: opening a file for writing fails here as it would there."""

from __future__ import annotations

import builtins
import errno
import os

import pytest
from typer.testing import CliRunner

from glasslab.core.analysis import report
from glasslab.core.store import reader

from support.presets import tiny_preset
from support.resume import train


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    path = tmp_path_factory.mktemp("ro") / "run.zarr"
    train(path, tiny_preset(**{"run.steps": 300, "recording.checkpoint_minutes": 0.0}), kill_at=250)
    return path


@pytest.fixture
def read_only(monkeypatch):
    real_open = builtins.open

    def fake_open(file, mode="r", *a, **kw):
        if any(c in mode for c in "wxa+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)


def test_analyze_works_read_only_and_says_it_wrote_nothing(killed, read_only):
    t = reader.Trajectory.open(killed)
    assert int(t.attrs.get("two_time_complete", 0)) != t.n_snapshots  # the end-of-run pass never ran
    out = report.analyze_store(killed, n_boot=10)
    assert out["analysis"] is not None
    assert "read-only" in out["two_time_not_written"]
    assert reader.Trajectory.open(killed).attrs == t.attrs  # nothing written


def test_resume_of_a_read_only_store_is_one_line(killed, read_only):
    from glasslab.tui.cli import app

    res = CliRunner().invoke(app, ["resume", str(killed)])
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1 and "read-only" in res.stderr
