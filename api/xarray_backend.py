"""glasslab stores as an xarray backend: `xr.open_dataset(path, engine="glasslab")`.

Registered in pyproject.toml under [project.entry-points."xarray.backends"], so that
xarray's own entry points (open_dataset, open_mfdataset, and whatever a user's tooling
builds on them) read a run store as `glasslab.open` does: the same dimensions,
coordinates, units and provenance (api/dataset.py is the one reader; this is its
adapter).  Its options are glasslab.open's: weights (bool, default True) and complete
(bool, default True); xarray's decoders do not apply (the store carries no CF encoding).

    xr.open_dataset("runs/quickstart-20261204-132304.zarr", engine="glasslab")
    xr.open_mfdataset(stores, engine="glasslab", combine="nested", concat_dim="seed")

Nothing heavy is imported until a store is opened: xarray loads every installed backend
whenever it lists its engines, so this module keeps that cheap (glasslab.dataset, and the
engine behind it, load on the first open).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from xarray.backends import BackendEntrypoint


def _zarr_json(path: Path) -> dict | None:
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


class GlasslabBackendEntrypoint(BackendEntrypoint):
    """open_dataset(path, weights=True, complete=True, drop_variables=None) -> glasslab.open(path, ...).

    drop_variables: names of data variables (or coordinates) to leave out, as for any engine.
    Raises BadInput (a glasslab error, one line) when `path` is not a glasslab store."""

    description = "glasslab run stores (Zarr v3 written by glasslab): glasslab.open as an xarray engine"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "weights", "complete")

    def open_dataset(self, filename_or_obj, *, drop_variables=None, weights: bool = True, complete: bool = True):
        from glasslab.dataset import open as open_store

        if not isinstance(filename_or_obj, (str, os.PathLike)):
            raise TypeError(f"engine='glasslab' opens a run store's path, got {type(filename_or_obj).__name__}")
        drop = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables or [])
        ds = open_store(Path(filename_or_obj), weights=weights and "weights" not in drop, complete=complete)
        return ds.drop_vars([name for name in drop if name in ds.variables])

    def guess_can_open(self, filename_or_obj) -> bool:
        """A directory whose root zarr.json is a group written by glasslab (its attributes name the version)."""
        if not isinstance(filename_or_obj, (str, os.PathLike)):
            return False
        meta = _zarr_json(Path(filename_or_obj))
        return bool(meta) and meta.get("node_type") == "group" and "glasslab_version" in (meta.get("attributes") or {})
