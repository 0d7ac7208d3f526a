"""The log-spaced snapshot grid of docs/science.md (section 1)."""

from __future__ import annotations

import numpy as np


def log_grid(first: int, last: int, n: int) -> list[int]:
    """round(exp(linspace(ln t0, ln t_max, n))), duplicates dropped, 0 prepended.

    Every entry can serve as a waiting time t_w; lags are differences of
    later entries.  With t0 >= t_max the grid is [0, t_max].
    """
    if last <= 0:
        return [0]
    first = min(first, last)
    times = np.rint(np.exp(np.linspace(np.log(first), np.log(last), n))).astype(np.int64)
    return [0] + sorted(set(int(t) for t in times if t > 0))


def snapshot_grid(first: int, last: int, n: int, every: int = 0) -> list[int]:
    """The run's snapshot steps: log_grid(first, last, n), plus every multiple of `every` up to `last`
    when every > 0 (recording.every: a branch's replicas read Delta_AB at whole and half epochs)."""
    grid = log_grid(first, last, n)
    if every > 0 and last > 0:
        grid = sorted(set(grid) | set(range(every, last + 1, every)))
    return grid


def grid_of(preset) -> list[int]:
    """snapshot_grid of a Preset (recording.first, run.steps, recording.snapshots, recording.every)."""
    rec = preset.recording
    return snapshot_grid(rec.first, preset.run.steps, rec.snapshots, rec.every)
