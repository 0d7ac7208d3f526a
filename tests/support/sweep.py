"""Helpers of the sweep tests: a tiny preset file, reference runs in this process, stores compared bitwise."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from glasslab.core.config import presets
from glasslab.core.runs import catalog
from glasslab.core.store import reader
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive

from support.presets import tiny_preset


def write_preset(d: Path, name: str = "tiny", **over) -> Path:
    """The conftest tiny preset as a TOML file (a sweep's base preset is a file or a name)."""
    path = d / f"{name}.toml"
    path.write_text(catalog.to_toml(tiny_preset(**over)))
    return path


def reference(preset_file: Path, overrides: dict, out: Path) -> dict[int, np.ndarray]:
    """The point run here, uninterrupted, with one torch thread as the sweep's points: weights by step."""
    p = presets.with_overrides(presets.load(str(preset_file)), overrides)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        drive(Run(p), [TrajectoryWriter(out)])
    finally:
        torch.set_num_threads(threads)
    return weights_by_step(out)


def weights_by_step(path: Path) -> dict[int, np.ndarray]:
    t = reader.Trajectory.open(path)
    return {int(s): np.asarray(t.snapshot(i)) for i, s in enumerate(t.steps)}


def assert_bitwise(store: Path, ref: dict[int, np.ndarray]) -> None:
    got = weights_by_step(store)
    assert reader.Trajectory.open(store).status == "finished"
    shared = sorted(set(got) & set(ref))
    assert max(ref) in shared and len(shared) >= len(ref) - 1, (sorted(got), sorted(ref))
    for s in shared:
        assert np.array_equal(got[s], ref[s]), f"weights differ at step {s}"


def manifest(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep.json").read_text())


def point(sweep_dir: Path, i: int) -> dict:
    return manifest(sweep_dir)["points"][i]


def snapshots(store: Path) -> int:
    try:
        return int(reader.open_group(store).attrs.get("n_snapshots", 0))
    except Exception:  # not created yet, or mid-creation
        return 0


def wait_for(what: str, ok, timeout_s: float = 600.0, every_s: float = 0.1):
    """Poll `ok()` until it returns something truthy (returned); fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
