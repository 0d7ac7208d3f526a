"""Events a closed store gains after its run: one entry appended under the store's writer lock.

A sweep job records here that Slurm requeued or preempted a point (core/sweep/job.py); the
run's own events go through the writer (core/store/writer.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glasslab.core.store import layout, reader
from glasslab.core.store import lock as store_lock


def append_event(path: Path, event: dict[str, Any]) -> None:
    """Add one entry to a closed store's `events` (under its writer lock)."""
    lock = store_lock.acquire(path)
    try:
        root = reader.open_group(path, mode="r+")
        attrs = dict(root.attrs)
        layout.commit_attrs(root, {"events": list(attrs.get("events", [])) + [event]})
    finally:
        store_lock.release(lock)
