"""The rows of `glasslab ps --json` and `glasslab presets list --json` (schema: docs/json.md).

Built from the records (LiveRun, PresetSummary), never from a table's layout, so the tables
may change width without changing the JSON.  A name means what it means in `analyze --json`:
run (the store's path), name (the preset's name), status, dynamics (the kind: sgd, gd,
langevin), n_params, train_size, tags.  JSON has no NaN: an unknown number is null.
"""

from __future__ import annotations

import math

SCHEMA = 1  # raised when a field changes meaning or goes; new fields do not raise it


def _number(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def live_run(r) -> dict:
    """One `ps` row (core/runs/live.LiveRun)."""
    return {"run": str(r.store), "name": r.name, "status": r.status, "pid": r.pid, "host": r.host or None,
            "step": r.step, "total_steps": r.total, "steps_per_s": _number(r.steps_per_s),
            "eta_s": _number(r.eta_s), "dynamics": r.dynamics, **_device(r), "tags": list(r.tags),
            "note": r.note or None}


def _device(r) -> dict:
    """The device the run trains on and, on a GPU, its name and memory in use (issue 32, item 3)."""
    return {"device": r.device or None, "gpu": dict(r.gpu) if r.gpu else None}


def preset(s) -> dict:
    """One `presets list` row (core/runs/catalog.PresetSummary); a malformed file has its error and nulls."""
    if s.error:
        return {"name": s.name, "path": s.path, "error": s.error, "description": None, "model": None, "data": None,
                "dynamics": None, "dynamics_settings": None, "n_params": None, "train_size": None,
                "data_ok": False, "data_fix": None}
    return {"name": s.name, "path": s.path, "error": None, "description": s.description, "model": s.model,
            "data": s.data, "dynamics": s.dynamics.split()[0], "dynamics_settings": s.dynamics,
            "n_params": s.n_params, "train_size": s.train_size, "data_ok": s.data_ok,
            "data_fix": None if s.data_ok else s.data_fix}
