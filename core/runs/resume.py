"""Continue an interrupted or killed run from its last saved state, in the same store.

The resumed run is the run that would have happened.  The last saved state is
the one the root attribute `resume` points to (core/store/resume_state.py): the state
saved where a stop happened (zero steps lost), a wall-clock checkpoint (a
SIGKILL loses at most recording.checkpoint_minutes), or the last snapshot.
w comes from that state (or the snapshot's weights row), everything else
(momentum, RNG states, the minibatch permutation and position, the dynamics,
buffers) from the state itself.  The dynamics switches recorded after that
point are replayed at their steps, the loss log continues from the entries up
to it, and the recorded thread count is used again (a 1-thread and a 2-thread
CPU run differ in the last bit).  On CPU the resumed store then ends bitwise
identical to an uninterrupted run (tests/runs/test_resume.py, tests/stress/).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glasslab.core.config import presets
from glasslab.core.config.schedule import grid_of
from glasslab.core.config.threads import usable_cpus
from glasslab.core.errors import BadInput
from glasslab.core.records import RESUME_SOURCES as SOURCES
from glasslab.core.store import codec, layout, reader, resume_state
from glasslab.core.store import lock as store_lock
from glasslab.core.train.run import Run


def prepare(path: str | Path, *, steps: int | None = None, data_dir: str | None = None,
            download: bool = False, threads: int | str | None = None, force: bool = False) -> tuple[Run, Path]:
    """A Run restored at the store's last saved state, and the writer lock now held for it.

    threads: None uses the count recorded in the store (else the preset's run.threads);
    a count or "auto" overrides it.  `run.resumed_from` and `run.threads_source` say what
    was chosen (see `describe`).  force: take the writer lock even from a live-looking
    writer (core/store/lock.py).  Raises BadInput when the store cannot be resumed.
    """
    path = Path(path)
    root = reader.open_group(path, mode="r")
    attrs = dict(root.attrs)
    lock = store_lock.acquire(path, force=force)  # refuses while a live writer holds the store
    try:
        n, point = int(attrs.get("n_snapshots", 0)), attrs.get("resume")
        at, planned = _plan(path, attrs, steps)
        preset = presets.from_stored(attrs["preset"])
        planned = planned or preset.run.steps
        if (steps or planned) != preset.run.steps:
            preset = presets.with_overrides(preset, {"run.steps": steps or planned})
        recorded = attrs.get("threads")
        run = Run(preset, data_dir=data_dir, download=download, fresh=False,
                  threads=threads if threads is not None else recorded)
        run.threads_source = ("--threads" if threads is not None else
                              "recorded in the store" if recorded else f"run.threads = {preset.run.threads}")
        run.recorded_device = attrs.get("device")
        run.recorded_versions = codec.session_versions(attrs)  # the last session's: its resumed event's
        if run.n_params != int(attrs["n_params"]):
            raise BadInput(f"{path} holds {attrs['n_params']} parameters but its preset builds {run.n_params}: the store does not match this glasslab version")
        state = resume_state.read_slot(root, point["slot"])
        row = None if "w" in state else np.asarray(root["weights"][n - 1])
        _check_saved(path, at, state, row, int(root["snapshot_step"][n - 1]))
        run.restore(row, state)
        taken = [int(s) for s in root["snapshot_step"][:n]]
        # The grid's steps still ahead: after the resume point, not merely after the last snapshot.  A
        # new --steps gives a new grid, which may have a step between the two that the run has passed:
        # the run waited for it forever and took no snapshot more (a stopped run, then --steps).
        later = [t for t in grid_of(preset) if t > at]
        run.snapshot_steps = taken + later
        run.next_snapshot = n
        run.online.waiting = layout.waiting_snapshots(attrs)
        run.online.restore({i: root["weights"][i] for i in run.online.waiting if i < n})
        events = list(attrs.get("events", []))
        applied = _switches_applied(state, events, at)
        run.n_switches = applied
        run.replay = [(r.step, r.new) for r in codec.switches(events)[applied:]]
        run.resumed_from = {"step": at, "source": point.get("source", "snapshot"),
                            "n_loss": _loss_entries(root, attrs, point), "switches": applied, "planned_steps": planned}
    except BaseException:
        store_lock.release(lock)
        raise
    return run, lock


def check(path: str | Path, *, steps: int | None = None, force: bool = False) -> None:
    """Refuse at once (BadInput) what prepare would refuse before training, without loading data or
    taking the lock: not a store, nothing to resume from, finished or diverged, --steps not beyond
    the saved state, a live writer (unless force), no lock possible here.  A detached resume
    (`glasslab resume --detach`, the console's `c`) asks this before it starts its process, so a
    refusal is one line here, not a success followed by a failed process (issue 31.2, 31.6)."""
    path = Path(path)
    attrs = dict(reader.open_group(path, mode="r").attrs)  # BadInput: not a store
    if not force:  # first, as prepare takes the lock first: a live run is "being written", whatever it holds
        store_lock.refuse_if_held(path)
    _plan(path, attrs, steps)
    store_lock.check_lockable(path.parent)


def _plan(path: Path, attrs: dict, steps: int | None) -> tuple[int, int]:
    """(the saved state's step, the steps the run's last session planned); BadInput when it cannot resume."""
    status, n, point = attrs.get("status"), int(attrs.get("n_snapshots", 0)), attrs.get("resume")
    if status == "diverged":
        raise BadInput(f"{path} diverged at step {attrs['events'][-1]['step']}: resuming would diverge again; "
                       "start a new run with a smaller dynamics.lr")
    if n == 0 or not point:
        raise BadInput(f"{path} has no complete snapshot to resume from: start the run again")
    at = int(point["step"])
    # The run's length is the one its last session planned (`total_steps`, which a resume with
    # --steps rewrites), not its preset's: a run ended by `resume --steps 200` is finished at 200.
    planned = int(attrs.get("total_steps") or (attrs.get("preset") or {}).get("run", {}).get("steps") or 0)
    if steps is not None and steps <= at:
        raise BadInput(f"--steps {steps} is not beyond the saved state (step {at:,}): ask for more steps")
    if status == "finished" and (steps is None or steps <= planned):
        raise BadInput(f"{path} already finished its {planned:,} steps: pass --steps N with N larger to extend it")
    return at, planned


def _check_saved(path: Path, at: int, state: dict, row, row_step: int) -> None:
    """The saved state must be the one the root announces, with its weights written: a store copied
    while its run wrote it can hold a newer root than state (restoring it would train from the wrong
    point, and call the copy diverged for good)."""
    saved = int(state.get("step", at))
    w = state["w"] if row is None else row
    if saved != at or (row is not None and row_step != at) or not np.isfinite(np.asarray(w, dtype=np.float64)).all():
        found = f"a state of step {saved:,}" if saved != at else (
            f"weights of step {row_step:,}" if row is not None and row_step != at else "unwritten (NaN) weights")
        raise BadInput(f"{path} announces a saved state at step {at:,} but holds {found} (a copy taken while its run "
                       "wrote it?): resume the original store, or copy it again once its run has stopped")


def _switches_applied(state: dict, events: list[dict], at: int) -> int:
    """Switches already inside the saved state.  Stores from before the count was saved: a snapshot's
    state is taken before the switches of its own step are applied, so those at `at` are not in it."""
    if "switches" in state:
        return int(state["switches"])
    return len(codec.switches_before(events, at))


def _loss_entries(root, attrs: dict, point: dict) -> int:
    """Committed loss-log entries up to the resume point (older stores: counted from loss/step)."""
    if "n_loss" in point:
        return int(point["n_loss"])
    committed = np.asarray(root["loss/step"][: int(attrs.get("n_loss", 0))])
    later = np.flatnonzero((committed > int(point["step"])) | (committed < 0))
    return int(later[0]) if len(later) else len(committed)


def describe(run: Run) -> list[str]:
    """What a resume says before it trains: where it continues, and with how many threads."""
    point = run.resumed_from
    lines = [f"resuming at step {point['step']:,} ({SOURCES.get(point['source'], point['source'])})"
             + (f", replaying {len(run.replay)} recorded dynamics switch(es)" if run.replay else ""),
             f"threads: {run.threads} ({run.threads_source})"]
    planned, now = point.get("planned_steps"), run.preset.run.steps
    if planned is not None and now != planned:
        lines.append(f"note: --steps {now:,} {'shortens' if now < planned else 'extends'} the run, planned for "
                     f"{planned:,} steps: it ends at step {now:,}")
    cpus = usable_cpus()
    if run.device.type == "cpu" and run.threads > cpus:
        lines.append(f"note: {run.threads} threads on the {cpus} CPU(s) this process may use will be slow; "
                     "--threads N is faster but not bitwise the uninterrupted run")
    here = str(run.device)
    if run.recorded_device and run.recorded_device != here:
        lines.append(f"note: the store was written on {run.recorded_device}, this resume runs on {here}: "
                     "the continuation is not bitwise the uninterrupted run")
    changed = version_change(run.recorded_versions)
    if changed:
        lines.append(f"note: the store's last session ran {changed[0]}, this resume runs {changed[1]}: "
                     "the continuation is not bitwise the uninterrupted run")
    return lines


def version_change(recorded: dict[str, str]) -> tuple[str, str] | None:
    """(what the store's last session ran, what this process runs) for the versions that differ, as
    "torch 2.5.1, glasslab 0.1.0"; None when they agree or the store recorded none."""
    here = codec.versions()
    names = {"torch_version": "torch", "glasslab_version": "glasslab"}
    differ = [k for k in names if recorded.get(k) and recorded[k] != here[k]]
    if not differ:
        return None
    return (", ".join(f"{names[k]} {recorded[k]}" for k in differ), ", ".join(f"{names[k]} {here[k]}" for k in differ))
