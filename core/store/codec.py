"""The record <-> store mapping, in one place: what a run's records become in a store's attributes, and back.

The writer (core/store/writer.py) stores a RunStarted as the root attributes and every
other record that ends up in `events` through `to_event`; a follower (core/runs/follow.py)
turns the same attributes back into the RunStarted, the dynamics switches and the end
record.  Every reader of a store's dynamics switches (resume, branch, follow, ps, analyze,
the console, the figures) reads them through `switches`, `switches_before` and
`dynamics_after` as DynamicsChanged records with typed settings, never the raw events.
Both directions live here so that they cannot drift apart (tests/store/test_codec.py
round-trips them).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
from pathlib import Path
from typing import Any

from glasslab.core import __version__
from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.errors import BadInput
from glasslab.core.records import (
    DynamicsChanged,
    RunDiverged,
    RunFinished,
    RunInterrupted,
    RunStarted,
)
from glasslab.core.store import layout


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def git_commit(package_dir: Path | None = None) -> str | None:
    """The commit of glasslab's own checkout, or None: not a checkout, or no git.

    `git rev-parse HEAD` from the package folder alone would name whatever repository
    encloses it: installed as a wheel into a virtual environment inside the user's own
    project, that is the user's commit, not glasslab's.  So a commit is recorded only when
    the enclosing work tree is glasslab's checkout: its core/ is this package folder and its
    pyproject.toml names the project glasslab.  package_dir: the core/ folder (tests).
    """
    core = (package_dir or Path(__file__).resolve().parent.parent).resolve()
    top = _git(["rev-parse", "--show-toplevel"], core)
    if top is None or (Path(top) / "core").resolve() != core:
        return None
    try:
        import tomllib

        name = tomllib.loads((Path(top) / "pyproject.toml").read_text()).get("project", {}).get("name")
    except (OSError, ValueError):
        return None
    return _git(["rev-parse", "HEAD"], core) if name == "glasslab" else None


def versions() -> dict[str, str]:
    """The versions that decide bitwise identity, as this process runs them: the root attributes
    record the first session's, each `resumed` event its own session's (issue 31 item 10)."""
    import torch  # here, not at the top: ps, follow and the figures read switches without torch

    return {"glasslab_version": __version__, "torch_version": torch.__version__}


def session_versions(attrs: dict) -> dict[str, str]:
    """The versions the store's last session ran: its last `resumed` event's, else the root's."""
    found = {k: attrs.get(k) for k in ("glasslab_version", "torch_version")}
    for e in attrs.get("events", []):
        if e.get("kind") == "resumed":
            found.update({k: e[k] for k in found if e.get(k)})
    return {k: v for k, v in found.items() if v}


def started_attrs(r: RunStarted) -> dict[str, Any]:
    """The root attributes of a new store for the run that RunStarted describes, provenance included."""
    return {
        **versions(),
        "name": r.name,
        "preset": r.preset,
        "seed": r.preset["run"]["seed"],
        "device": r.device,
        "gpu": dict(r.gpu) or None,  # the GPU's name and memory (core/system/devices.gpu_info); None off CUDA
        "threads": r.threads,
        "git_commit": git_commit(),
        "n_params": r.n_params,
        "train_size": r.train_size,
        "param_layout": [list(x) for x in r.param_layout],
        "snapshot_grid": r.snapshot_steps,
        "total_steps": r.total_steps,
        "status": "running",
        "events": [to_event(r)],
        "waiting_snapshots": list(r.waiting_times),  # indices into snapshot_grid (format 3)
        "waiting_time_steps": [int(r.snapshot_steps[i]) for i in r.waiting_times],
        **r.notes,
    }


def to_event(record) -> dict[str, Any]:
    """The store's `events` entry for a record (step and kind at least)."""
    kind = type(record).__name__
    if isinstance(record, DynamicsChanged):
        return {"step": record.step, "kind": SWITCH, "old": dataclasses.asdict(record.old),
                "new": dataclasses.asdict(record.new)}
    if isinstance(record, RunDiverged):
        return {"step": record.step, "kind": "diverged", "what": record.what, "value": repr(record.value)}
    if isinstance(record, RunInterrupted):
        return {"step": record.step, "kind": "interrupted", "reason": record.reason}
    if isinstance(record, RunFinished):
        return {"step": record.step, "kind": "finished"}
    if isinstance(record, RunStarted):
        return {"step": record.start_step, "kind": "started"}
    return {"step": getattr(record, "step", -1), "kind": kind}


def run_started(attrs: dict) -> RunStarted:
    """The RunStarted a store's attributes describe."""
    notes = {k: attrs[k] for k in ("D_eval_mode", "probe_size") if k in attrs}
    resumed = [int(e.get("step", 0)) for e in attrs.get("events", []) if e.get("kind") == "resumed"]
    return RunStarted(attrs.get("name", "run"), attrs.get("preset", {}), int(attrs.get("n_params", 0)),
                      int(attrs.get("train_size", 0)), attrs.get("device", ""),
                      [tuple(x) for x in attrs.get("param_layout", [])], [int(s) for s in attrs.get("snapshot_grid", [])],
                      int(attrs.get("total_steps", 0)), resumed[-1] if resumed else 0,
                      layout.waiting_snapshots(attrs), notes, resumed=bool(resumed),
                      threads=int(attrs.get("threads", 0)), gpu=dict(attrs.get("gpu") or {}))


def end_record(event: dict, attrs: dict):
    """The end record of a store's last event (finished, interrupted, diverged)."""
    step, wall = int(event.get("step", 0)), float(attrs.get("wall_s", math.nan))
    kind = event.get("kind")
    if kind == "finished":
        return RunFinished(step, wall)
    if kind == "diverged":
        return RunDiverged(step, wall, event.get("what", "loss"), float(event.get("value", "nan")))
    return RunInterrupted(step, wall, event.get("reason", kind or "interrupted"))


# ------------------------------------------------------------------ dynamics switches

SWITCH = "dynamics_changed"  # the `kind` of a dynamics switch's event
_DYNAMICS_FIELDS = frozenset(f.name for f in dataclasses.fields(DynamicsConfig))


def is_switch(event: dict) -> bool:
    """Whether an entry of a store's `events` records a dynamics switch."""
    return event.get("kind") == SWITCH


def dynamics_config(settings: dict) -> DynamicsConfig:
    """A switch's stored settings (an event's `old` or `new`) as a DynamicsConfig.

    A field the store lacks (written before the field existed) reads as its default.  A field
    this glasslab does not know raises BadInput: a store from a newer version, whose dynamics
    could not be continued or shown faithfully here."""
    unknown = sorted(set(settings) - _DYNAMICS_FIELDS)
    if unknown:
        raise BadInput(f"a dynamics switch in this store has settings this glasslab does not know ({', '.join(unknown)}): "
                       "was it written by a newer glasslab? Upgrade to read it")
    return DynamicsConfig(**settings)


def dynamics_changed(event: dict) -> DynamicsChanged:
    """The DynamicsChanged record a `dynamics_changed` event stores (the inverse of to_event)."""
    return DynamicsChanged(int(event.get("step", 0)), dynamics_config(event.get("old") or {}),
                           dynamics_config(event.get("new") or {}))


def switches(events: list[dict]) -> list[DynamicsChanged]:
    """The dynamics switches of a store's `events` (its attribute, or Trajectory.events), in order."""
    return [dynamics_changed(e) for e in events if is_switch(e)]


def switches_before(events: list[dict], step: int) -> list[DynamicsChanged]:
    """The switches recorded before `step` (strictly).  A state saved at `step` is taken before the
    switches of its own step are applied, so these are the ones it already holds."""
    return [r for r in switches(events) if r.step < step]


def dynamics_after(events: list[dict], step: int) -> DynamicsConfig | None:
    """The dynamics in force just after `step`: the `new` settings of the last switch recorded at or
    before that step, or None when there was none (the preset's own).  A run branched at t_w trains
    on with dynamics_after(events, t_w); one resumed at step s with dynamics_after(events, s - 1)."""
    done = [r for r in switches(events) if r.step <= step]
    return done[-1].new if done else None
