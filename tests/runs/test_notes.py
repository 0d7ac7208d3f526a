"""Notes and tags (core/runs/notes.py, core/store/notes.py) on real stores: a note to a live run
goes through its control channel and its writer, so it is neither lost to the writer's later commits
nor overwrites them; a closed store takes a note under its lock; a resume keeps the notes."""

from __future__ import annotations

import threading

import pytest

from glasslab.core.errors import BadInput, RunFailed
from glasslab.core.runs import notes
from glasslab.core.store import lock as store_lock
from glasslab.core.store import notes as store_notes
from glasslab.core.store.reader import store_attrs
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.train.run import Run, drive

from support.presets import tiny_preset
from support.training import Training, wait_until


def committed(path) -> dict:
    return store_attrs(path) or {}


def test_a_note_to_a_live_run_is_written_by_its_writer_and_survives_its_later_commits(tmp_path):
    path = tmp_path / "live.zarr"
    training = Training(tiny_preset, path, **{"run.tags": ["start"]})
    try:
        wait_until(lambda: int(committed(path).get("n_loss", 0)) >= 20, "the writer to commit its loss log")
        sent_at = store_notes.last_step(committed(path))
        results: dict[int, dict] = {}

        def send(k):
            results[k] = notes.add(path, f"note {k}: Delta looks diffusive", ["checked"] if k == 1 else [], timeout=60)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=90)
        assert sorted(results) == [0, 1, 2]
        for k, note in results.items():
            assert note["text"] == f"note {k}: Delta looks diffusive" and note["step"] >= sent_at
        assert results[1]["tags"] == ["checked"]
        # The writer commits again (its running loss, once a second): the notes must still be there,
        # and its own counts must have moved on past what it had when it took them.
        n_loss_then = int(committed(path)["n_loss"])
        wait_until(lambda: int(committed(path).get("n_loss", 0)) >= n_loss_then + 20, "later commits of the writer")
        assert [n["id"] for n in store_notes.notes_of(committed(path))] == \
            [results[k]["id"] for k in sorted(results, key=lambda k: (results[k]["step"], results[k]["time"]))]
    finally:
        training.finish()
    attrs = committed(path)
    kept = store_notes.notes_of(attrs)
    assert sorted(n["text"] for n in kept) == [f"note {k}: Delta looks diffusive" for k in range(3)]
    assert len({n["id"] for n in kept}) == 3  # each once
    assert store_notes.tags_of(attrs) == ("start", "checked")
    # The writer's own attributes are whole: its status, its events, its counts.
    assert attrs["status"] == "interrupted" and attrs["events"][-1]["kind"] == "interrupted"
    assert attrs["events"][0]["kind"] == "started" and int(attrs["n_loss"]) >= n_loss_then + 20
    assert int(attrs["n_snapshots"]) >= 1 and attrs["preset"]["run"]["tags"] == ["start"]


def test_a_note_to_a_closed_store_waits_for_its_lock(tmp_path):
    path = tmp_path / "done.zarr"
    drive(Run(tiny_preset(**{"run.steps": 60})), [TrajectoryWriter(path)])
    held = store_lock.acquire(path)  # another writer (a resume, analyze completing it) holds the store
    try:
        with pytest.raises(RunFailed, match="is still held by pid"):
            notes.add(path, "not now", timeout=0.3)
    finally:
        store_lock.release(held)
    assert store_notes.notes_of(committed(path)) == []
    before = committed(path)
    note = notes.add(path, "after the run", ["late"])
    attrs = committed(path)
    assert note["step"] == 60 and store_notes.notes_of(attrs) == [note]
    assert {k: v for k, v in attrs.items() if k != "notes"} == before  # nothing else touched
    assert not store_lock.lock_path(path).exists()  # the lock given back


def test_a_resume_keeps_the_notes_its_events_do_not(tmp_path):
    """A resume trims the events after its resume point; notes are kept apart from events, whole."""
    from glasslab.core.runs import resume

    path = tmp_path / "r.zarr"
    training = Training(tiny_preset, path, **{"run.steps": 400, "recording.snapshots": 10})
    training.finish()
    note = notes.add(path, "stopped to look at D")
    run, lock = resume.prepare(path)
    drive(run, [TrajectoryWriter(path, lock=lock)])
    attrs = committed(path)
    assert attrs["status"] == "finished" and store_notes.notes_of(attrs) == [note]


@pytest.mark.parametrize("text, tags, why", [
    ("", [], "an empty note"),
    ("x", ["two words"], "is not a tag"),
    ("x", ["-dash"], "is not a tag"),
    ("bell\a", [], "control characters"),
    ("x" * 4001, [], "the limit is 4,000"),
])
def test_bad_notes_are_one_line_and_write_nothing(tmp_path, text, tags, why):
    path = tmp_path / "s.zarr"
    drive(Run(tiny_preset(**{"run.steps": 20})), [TrajectoryWriter(path)])
    with pytest.raises(BadInput, match=why):
        notes.add(path, text, tags)
    assert "notes" not in committed(path)


def test_a_note_to_what_is_not_a_store_is_bad_input(tmp_path):
    (tmp_path / "x.zarr").mkdir()
    with pytest.raises(BadInput, match="not a glasslab run store"):
        notes.add(tmp_path / "x.zarr", "hello")


def test_a_note_the_run_ends_before_taking_goes_under_the_lock_once(tmp_path, monkeypatch):
    """The channel read the request and handed it to the run, which ended before its next step
    boundary (here: the run drops it, as a loop that has left its last boundary does): the channel
    refuses what was not written, and the note goes in under the lock once the run has let go."""
    path = tmp_path / "ending.zarr"
    training = Training(tiny_preset, path)
    taken = []
    monkeypatch.setattr(training.run, "add_note", lambda note_id, text="", tags=(): taken.append(note_id))
    result = {}
    sender = threading.Thread(target=lambda: result.update(notes.add(path, "written after the end", timeout=60)))
    sender.start()
    wait_until(lambda: taken, "the run to be handed the note")
    training.finish()
    sender.join(timeout=60)
    attrs = committed(path)
    assert result["id"] == taken[0] and store_notes.notes_of(attrs) == [result]
    assert attrs["status"] == "interrupted" and result["step"] == store_notes.last_step(attrs)


def test_glasslab_note_to_a_headless_run_in_another_process(tmp_path):
    """The CLI end to end: `glasslab run --no-ui` in its own process, `glasslab note` from this one
    while it trains (waiting on the store's step), then `glasslab stop`; the note is in the store."""
    import subprocess
    import sys

    from typer.testing import CliRunner

    from glasslab.tui.cli import app
    from support.presets import tiny_toml

    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "glasslab.tui.cli", "run", str(tiny_toml(tmp_path, 5_000_000)),
                             "--no-ui", "--out", str(out), "--tag", "cli"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(int(committed(p).get("n_loss", 0)) >= 10 for p in out.glob("*.zarr")),
                   "the run to commit its loss log", timeout=120)
        (store,) = out.glob("*.zarr")
        runner = CliRunner()
        res = runner.invoke(app, ["note", str(store), "seen live", "--tag", "live"])
        assert res.exit_code == 0, res.output
        step = int(res.stdout.split("written at step ")[1].split()[0].replace(",", ""))
        res = runner.invoke(app, ["stop", str(store)])
        assert res.exit_code == 0, res.output
        assert proc.wait(timeout=120) == 0 or proc.returncode == 1, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    attrs = committed(store)
    [note] = store_notes.notes_of(attrs)
    assert note["text"] == "seen live" and note["step"] == step > 0
    assert store_notes.tags_of(attrs) == ("cli", "live") and attrs["status"] == "interrupted"
