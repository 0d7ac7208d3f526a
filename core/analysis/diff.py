"""`glasslab diff RUN_A RUN_B`: how two runs differ, as data (JSON-able).

Four parts, each side by side (a, b):
- preset: only the keys of the resolved presets that differ (dotted: dynamics.lr), in the
  presets' own order; a key one preset lacks (an older store) reads None there;
- switches: each run's dynamics switches (step, the kind before and after, the settings changed);
- provenance: glasslab, torch, git commit, device, threads, seed, store format, N and P, with
  `same` per row; a bitwise comparison of trajectories is only meaningful where they agree;
- readings: the headline numbers of `glasslab analyze` (core/analysis/report.py), each with its
  interval where it has one: the final train and test loss (the whole set, at the last snapshot:
  no sampling error), mu of the Delta collapse over all t_w and the late slope of Delta with
  their estimates (value, bootstrap error, band over fit windows, interval and its reading,
  core/analysis/windows.py), the verdict; and the loss a decade earlier.
Reading a store may complete its two-time matrices (once, under its lock), as analyze does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from glasslab.core.analysis import report
from glasslab.core.store import codec, reader
from glasslab.core.store import notes as store_notes

PROVENANCE = ("glasslab_version", "torch_version", "git_commit", "device", "threads", "seed", "format_version",
              "n_params", "train_size")
_MISSING = object()


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{"dynamics": {"lr": 0.1}} -> {"dynamics.lr": 0.1}; lists stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def preset_diff(a: dict, b: dict) -> list[dict[str, Any]]:
    """[{key, a, b}] for every dotted key whose values differ (None where a preset lacks the key)."""
    fa, fb = flatten(a), flatten(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    rows = []
    for k in keys:
        va, vb = fa.get(k, _MISSING), fb.get(k, _MISSING)
        if va != vb:
            rows.append({"key": k, "a": None if va is _MISSING else va, "b": None if vb is _MISSING else vb})
    return rows


def switches(events: list[dict]) -> list[dict[str, Any]]:
    """The dynamics switches: step, kind before and after, and the settings that changed."""
    out = []
    for r in codec.switches(events):
        old, new = dataclasses.asdict(r.old), dataclasses.asdict(r.new)
        changed = {k: new[k] for k in new if old[k] != new[k]}
        out.append({"step": r.step, "old": r.old.kind, "new": r.new.kind, "changed": changed})
    return out


def readings(result: dict) -> dict[str, Any]:
    """The headline readings of one analyze_store result."""
    a = result.get("analysis") or {}
    est = a.get("estimates") or {}
    fit = (a.get("aging") or {}).get("all") or {}
    loss = a.get("loss") or {}
    return {
        "final": result.get("final") or {},
        "loss_decade_ago": loss.get("loss_decade_ago"),
        "still_falling": loss.get("still_falling"),
        "mu": est.get("all") or ({"value": fit.get("mu"), "stat": fit.get("mu_err"), "at_bound": fit.get("at_bound")}
                                 if fit else None),
        # the slope analyze's verdict reads (late third of t_w), under the same label as analyze's row
        "late_tw_slope": est.get("late_tw_slope") or (
            {"value": a["late_tw_slope"].get("slope"), "stat": a["late_tw_slope"].get("slope_err")}
            if a.get("late_tw_slope") else None),
        "verdict": report.verdict_of(result),
        "analysis_error": result.get("analysis_error"),
    }


def compare(path_a: str | Path, path_b: str | Path, n_boot: int = 200) -> dict[str, Any]:
    """The comparison of two run stores (see the module's docstring for its parts).

    Raises BadInput (one line) when either path is not a run store, or has fewer than 3
    snapshots (the analysis needs them)."""
    sides = []
    for path in (Path(path_a), Path(path_b)):
        t = reader.Trajectory.open(path)
        result = report.analyze_store(path, n_boot=n_boot)
        sides.append((path, t.attrs, result))
    (pa, aa, ra), (pb, ab, rb) = sides
    prov = []
    for key in PROVENANCE:
        va, vb = aa.get(key), ab.get(key)
        if key == "format_version":
            va, vb = va or 1, vb or 1  # stores before format 2 lack it
        prov.append({"key": key, "a": va, "b": vb, "same": va == vb})
    return {
        "a": {"run": str(pa), "name": aa.get("name"), "status": ra.get("status"), "last_step": ra.get("last_step"),
              "tags": list(store_notes.tags_of(aa))},
        "b": {"run": str(pb), "name": ab.get("name"), "status": rb.get("status"), "last_step": rb.get("last_step"),
              "tags": list(store_notes.tags_of(ab))},
        "preset": preset_diff(aa.get("preset") or {}, ab.get("preset") or {}),
        "switches": {"a": switches(aa.get("events") or []), "b": switches(ab.get("events") or [])},
        "provenance": prov,
        "readings": {"a": readings(ra), "b": readings(rb)},
        "docs": report.DOCS,
    }
