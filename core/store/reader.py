"""Reading a run store: a consistent view of its committed prefix, live or finished.

Everything here is read-only.  Readers honour the committed counts of the root
attributes (core/store/layout.py), so a reader racing the writer sees whole
snapshots only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from glasslab.core.errors import BadInput
from glasslab.core.store.layout import EVALS, local_store


def store_attrs(store: str | Path) -> dict | None:
    """The root attributes of a store, read straight from its zarr.json (one small file, written by rename:
    a reader polling it every second pays no zarr machinery), or None when there is no store (yet)."""
    try:
        return json.loads((Path(store) / "zarr.json").read_text()).get("attributes")
    except (OSError, ValueError):
        return None


def not_a_store(path: str | Path) -> BadInput:
    """The one line for a path that is no run store (a plain file, a folder of something else): the same
    words from every command (analyze, resume, control, stop, switch, follow)."""
    return BadInput(f"{path} is not a glasslab run store (no Zarr group with glasslab attributes): "
                    "give a run directory written by glasslab run")


def is_store(path: str | Path) -> bool:
    """A folder whose root attributes are glasslab's (cheap: one small file; the writer writes the
    version with the store's first attributes)."""
    attrs = store_attrs(path)
    return isinstance(attrs, dict) and "glasslab_version" in attrs


def open_group(path: str | Path, mode: str = "r") -> zarr.Group:
    """Open a run's group, refusing anything that is not a glasslab store."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path} does not exist: give a run store (glasslab ps --all DIR lists the runs under DIR)")
    try:
        # Consolidated metadata would be stale during a run: never use it.
        root = zarr.open_group(store=local_store(path, mode), mode=mode, use_consolidated=False)
        ok = "glasslab_version" in root.attrs and "weights" in root
    except Exception:  # zarr raises several kinds for a folder that is not a group
        ok = False
    if not ok:
        raise not_a_store(path)
    return root


@dataclass
class Trajectory:
    """A consistent, read-only view of a (possibly still running) trajectory.

    Everything is cut to the committed counts read once at open time, so a
    reader racing a writer sees a prefix of whole snapshots.
    """

    path: Path
    root: zarr.Group
    attrs: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> "Trajectory":
        root = open_group(path)
        return cls(Path(path), root, dict(root.attrs))

    @property
    def status(self) -> str:
        return self.attrs.get("status", "running")

    @property
    def n_snapshots(self) -> int:
        return int(self.attrs.get("n_snapshots", 0))

    @property
    def n_params(self) -> int:
        return int(self.attrs["n_params"])

    @property
    def events(self) -> list[dict]:
        return list(self.attrs.get("events", []))

    @property
    def preset(self) -> dict:
        return self.attrs.get("preset", {})

    @property
    def steps(self) -> np.ndarray:
        return self.root["snapshot_step"][: self.n_snapshots]

    @property
    def weights(self) -> zarr.Array:
        """The weights array; only rows [:n_snapshots] are committed."""
        return self.root["weights"]

    def snapshot(self, i: int) -> np.ndarray:
        if not -self.n_snapshots <= i < self.n_snapshots:
            raise IndexError(f"snapshot {i} out of range: {self.n_snapshots} committed")
        return self.root["weights"][i % self.n_snapshots]

    def evals(self) -> dict[str, np.ndarray]:
        """Every EVALS column over the committed snapshots (all NaN where an older store lacks one)."""
        n = self.n_snapshots
        return {k: self.root[f"evals/{k}"][:n] if f"evals/{k}" in self.root else np.full(n, math.nan)
                for k in EVALS}

    def loss(self) -> tuple[np.ndarray, np.ndarray]:
        n = int(self.attrs.get("n_loss", 0))
        return self.root["loss/step"][:n], self.root["loss/value"][:n]

    def array(self, name: str) -> np.ndarray | None:
        """Any other committed per-snapshot array (e.g. observables/D), or None if absent."""
        if name not in self.root:
            return None
        arr, n = self.root[name], self.n_snapshots
        return arr[:n, :n] if arr.ndim == 2 else arr[:n]


def list_runs(out_dir: str | Path) -> list[Trajectory]:
    """The glasslab stores directly under `out_dir`, newest first (unreadable ones skipped)."""
    out = []
    for p in sorted(Path(out_dir).glob("*.zarr"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            out.append(Trajectory.open(p))
        except BadInput:
            continue
    return out
