"""The points of a sweep: the sweep directory created with every point pending, and each point's progress.

create() writes the directory and its manifest (core/sweep/manifest.py) for a
validated grid (core/sweep/grid.py's Plan); status() reads each point's row
back from the manifest and the point's own run store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from glasslab.core.errors import BadInput
from glasslab.core.store import reader
from glasslab.core.sweep import grid, manifest
from glasslab.core.sweep.grid import Plan


def default_dir(plan: Plan, root: str | Path = "sweeps") -> Path:
    """sweeps/PRESET-YYYYmmdd-HHMMSS (-2, -3 ... when taken)."""
    from glasslab.core.config import presets

    name = presets.check_name(plan.base.name, "the preset's file name")  # run.name's rule (issue 31 item 9)
    base = Path(root) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 2
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}"), k + 1
    return path


def create(plan: Plan, sweep_dir: str | Path, executor: dict[str, Any]) -> Path:
    """Write the sweep directory and its manifest (every point pending); BadInput if it holds a sweep."""
    sweep_dir = Path(sweep_dir)
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise BadInput(f"--out {sweep_dir} is a file: give a directory for the sweep")
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create the sweep directory {sweep_dir} ({err.strerror}): choose a writable --out") from None
    points = [{"id": f"{i:03d}", "overrides": over, "store": f"points/{grid.store_name(i, over)}",
               "job_id": None, "host": None, "state": "pending", "reason": "", "attempts": 0}
              for i, over in enumerate(plan.points)]
    manifest.create(sweep_dir, {
        "name": sweep_dir.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "source": plan.source,
        "preset": plan.base.to_dict(), "axes": plan.axes, "executor": executor, "cancelled": False,
        "points": points})
    return sweep_dir


def status(sweep_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest (lost jobs reconciled) and one row per point, read from its store:
    {id, values {axis: value}, state, reason, step, total, train_loss, verdict, store, job_id,
    attempts (how many times a job has started the point: requeues and resumes count)}."""
    sweep_dir = Path(sweep_dir)
    m = manifest.reconcile(manifest.read(sweep_dir))
    rows = []
    for p in m["points"]:
        row = {"id": p["id"], "values": p["overrides"], "state": p["state"], "reason": p.get("reason", ""),
               "step": None, "total": None, "train_loss": None, "verdict": None, "store": p["store"],
               "job_id": p.get("job_id"), "attempts": int(p.get("attempts", 0))}
        summary = p.get("summary") or {}
        row["verdict"] = summary.get("verdict")
        path = sweep_dir / p["store"]
        if path.exists():
            try:
                t = reader.Trajectory.open(path)
                n = t.n_snapshots
                row["total"] = int(t.attrs.get("total_steps", 0)) or None
                if n:
                    row["step"] = int(t.steps[-1])
                    loss = float(t.root["evals/train_loss"][n - 1])
                    row["train_loss"] = loss if loss == loss else None
            except (BadInput, KeyError, ValueError, OSError):
                row["reason"] = row["reason"] or "store unreadable"
        rows.append(row)
    return m, rows


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["state"]] = out.get(r["state"], 0) + 1
    return out
