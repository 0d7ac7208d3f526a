"""`glasslab note`: a note and tags written into a run's store, whether its run lives or not.

Two routes, so that no attribute write is ever lost or overwritten (core/store/notes.py says why):

- the run's process is live and training (running, or starting: loading its data): the note goes
  as a request through the run's control channel (core/runs/control.py); the run takes it at its
  next step boundary as a NoteAdded record and its writer commits it, the one writer of the
  store's attributes while the run lives; the channel answers only after that commit;
- no process holds the store (finished, interrupted, diverged, or stale: its process is gone):
  it is written under the store's writer lock (core/store/notes.append_locked).

A process that is finishing (its run has ended and it completes the two-time matrices under the
lock), or a run that ended between the request and its next step (the channel then refuses the
note, which was not written), is waited for until its process exits; then the lock route.  The
note is read back from the store before `add` returns: a note said written is committed there.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from glasslab.core.config.presets import check_tags
from glasslab.core.errors import BadInput, RunFailed
from glasslab.core.runs import control, live
from glasslab.core.store import lock as store_lock
from glasslab.core.store import notes as store_notes
from glasslab.core.store.reader import store_attrs

POLL_S = 0.05  # how often a finishing run's process is looked at


def add(store: str | Path, text: str = "", tags=(), *, timeout: float = 60.0) -> dict[str, Any]:
    """Write one note (text, tags or both) into the run store at `store`; returns the stored entry
    {"id", "step", "time", "text", "tags"}.

    timeout: seconds to wait for a live run's answer or a finishing run's process.  Raises BadInput
    for an empty or malformed note or a path that is not a store, RunFailed when the run refused the
    note or did not answer in time (a request not yet taken stays queued in its control folder)."""
    text, tags = store_notes.check_text(text), check_tags(tags, "--tag")
    if not text and not tags:
        raise BadInput("an empty note: give its text, a --tag, or both")
    store = Path(store)
    deadline = time.monotonic() + timeout
    note_id = new_id()  # one id whichever route writes it: a note the run committed is never written twice
    while True:
        row = live.describe(store)
        if row.status in ("running", "starting"):
            note = _through_the_run(store, note_id, text, tags, deadline)
            if note is not None:
                return note
            continue  # the run ended before it took the note: the lock's turn, once its process is gone
        if row.alive:  # finishing: its process holds the lock to complete the store, then exits
            owner = store_lock.lock_owner(store) or {}
            _wait_or_fail(deadline, f"{store} is still held by pid {owner.get('pid', row.pid)} (its run's process "
                                    "completing the two-time matrices, or another writer): try again once it lets go")
            continue
        attrs = store_attrs(store)
        if not attrs or "glasslab_version" not in attrs:
            raise BadInput(f"{store} is not a glasslab run store: give a run's .zarr directory (glasslab ps --all lists them)")
        try:
            return store_notes.append_locked(store, note_id, text, tags)
        except BadInput as err:  # another process holds the lock for a moment (analyze, a resume starting)
            _wait_or_fail(deadline, str(err))


def new_id() -> str:
    return f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"


def _through_the_run(store: Path, note_id: str, text: str, tags, deadline: float) -> dict | None:
    """The note as a request to the live run: its stored entry, or None when the run ended (or its
    process died) before it wrote the note."""
    rid = control.send(store, "note", note={"text": text, "tags": list(tags)}, rid=note_id)
    alive = lambda: live.process_alive(control.read_json(control.control_dir(store) / "process.json"))  # noqa: E731
    answer = control.wait(store, rid, max(deadline - time.monotonic(), 0.0), alive=alive)
    if answer is None and not alive():  # killed: it can no longer take the request (nor will a resume)
        (control.control_dir(store) / f"req-{rid}.json").unlink(missing_ok=True)
        return None
    if answer is None:
        raise RunFailed(f"no answer from the run in time (it takes notes between steps); the note stays queued in "
                        f"{control.control_dir(store)} and is written when the run reaches its next step")
    if answer.applied:
        for note in store_notes.notes_of(store_attrs(store) or {}):
            if note.get("id") == rid:
                return note
        raise RunFailed(f"the run answered that it wrote the note, but {store} does not hold it: its writer failed "
                        f"(see glasslab analyze {store})")
    if not answer.ended:
        raise RunFailed(f"note refused: {answer.reason}")
    # The run ended first: its writer commits the end status right after (the channel may answer
    # before that commit lands); then the loop in add() waits for the process and takes the lock.
    while live.describe(store).status in ("running", "starting"):
        _wait_or_fail(deadline, f"the run of {store} ended before it took the note, and its store still says "
                                "running: try again (glasslab ps)")
    return None


def _wait_or_fail(deadline: float, why: str) -> None:
    if time.monotonic() >= deadline:
        raise RunFailed(why)
    time.sleep(POLL_S)
