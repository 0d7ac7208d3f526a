"""A run's lab-notebook entries: notes and tags, kept in the store's root attributes.

    attrs["notes"] = [{"id", "step", "time", "text", "tags": [...]}, ...]   (oldest first)
    attrs["preset"]["run"]["tags"]                                           (the tags it started with)

A run's tags are those it started with (`glasslab run PRESET --tag X`, run.tags) and then
those its notes added, in that order.  Who writes `notes`, so that no attribute write is
ever lost or overwritten: the root attributes are one JSON document (zarr.json) that a
writer replaces whole, so two processes that each read it, add something and write it
back lose one of the two changes.  While a run lives its writer thread owns that document
(core/store/writer.py), so a note to it travels as a request through the run's control
channel (core/runs/control.py) and comes back through the training loop as a NoteAdded
record, which the writer commits like every other record.  A store without a live writer
is written by `append_locked` under the store's writer lock (core/store/lock.py), which a
writer needs for every commit too.  core/runs/notes.py picks the route.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from glasslab.core.config.presets import check_tags
from glasslab.core.errors import BadInput
from glasslab.core.records import NoteAdded
from glasslab.core.store import layout, reader
from glasslab.core.store import lock as store_lock

TEXT_MAX = 4000  # characters: a note is a remark, not a file


def check_text(text: str) -> str:
    """A note's text, stripped; BadInput when it holds control characters (other than newlines and
    tabs) or is longer than TEXT_MAX."""
    text = (text or "").strip()
    if len(text) > TEXT_MAX:
        raise BadInput(f"the note is {len(text):,} characters long: the limit is {TEXT_MAX:,}")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise BadInput("the note holds control characters: give plain text")
    return text


def entry(note_id: str, step: int, text: str, tags=(), at: float | None = None) -> dict[str, Any]:
    """One element of attrs["notes"]."""
    return {"id": note_id, "step": int(step), "time": float(time.time() if at is None else at),
            "text": text, "tags": list(tags)}


def entry_of(record: NoteAdded) -> dict[str, Any]:
    return entry(record.id, record.step, record.text, record.tags, record.time)


def notes_of(attrs: dict) -> list[dict[str, Any]]:
    """The store's notes, oldest first ([] for a store that has none, or one older than notes)."""
    return [n for n in attrs.get("notes") or [] if isinstance(n, dict)]


def tags_of(attrs: dict) -> tuple[str, ...]:
    """The run's tags: those it started with (its preset's run.tags), then those its notes added."""
    out: list[str] = []
    started = ((attrs.get("preset") or {}).get("run") or {}).get("tags") or []
    for tag in [*started, *(t for n in notes_of(attrs) for t in n.get("tags") or [])]:
        if isinstance(tag, str) and tag not in out:
            out.append(tag)
    return tuple(out)


def has_tags(attrs: dict, wanted) -> bool:
    """Whether the run carries every tag in `wanted` (exact, case-sensitive)."""
    have = set(tags_of(attrs))
    return all(t in have for t in wanted)


def last_step(attrs: dict) -> int:
    """The last step a store records (its last committed snapshot, or a later event)."""
    steps = [int(e.get("step", 0)) for e in attrs.get("events") or []]
    grid, n = attrs.get("snapshot_grid") or [], int(attrs.get("n_snapshots", 0) or 0)
    if n and len(grid) >= n:
        steps.append(int(grid[n - 1]))
    return max(steps, default=0)


def append_locked(path: Path, note_id: str, text: str, tags=()) -> dict[str, Any]:
    """Add one note to a store that no writer holds, under its writer lock; returns the entry.

    Raises BadInput while a writer holds the lock (core/runs/notes.py waits for it), or when
    `path` is not a store; StoreReadOnly when the lock cannot be written."""
    tags = check_tags(tags)
    lock = store_lock.acquire(path)
    try:
        root = reader.open_group(path, mode="r+")
        attrs = dict(root.attrs)  # read under the lock: nobody else writes it meanwhile
        if any(n.get("id") == note_id for n in notes_of(attrs)):  # written already (a retry)
            return next(n for n in notes_of(attrs) if n.get("id") == note_id)
        note = entry(note_id, last_step(attrs), text, tags)
        layout.commit_attrs(root, {"notes": [*notes_of(attrs), note]})
        return note
    finally:
        store_lock.release(lock)
