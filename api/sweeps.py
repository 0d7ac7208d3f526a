"""A sweep directory as one xarray Dataset (`glasslab.open_sweep`): its points stacked over the sweep's axes and seeds.

The points and their stores come from the sweep's manifest (core/sweep/manifest.py); which
axes are seeds is core/sweep/ensemble.py's SEED_AXES, so `ds.msd.mean("seed")` averages
over the same points as the ensemble means of `glasslab analyze SWEEP`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glasslab.core.errors import BadInput
from glasslab.core.sweep import manifest
from glasslab.core.sweep.ensemble import SEED_AXES
from glasslab.dataset import open as open_run
from glasslab.dataset import require_xarray


def dim_name(axis: str) -> str:
    """The dimension of a sweep axis: its key with dots as underscores (model.width -> model_width)."""
    return axis.replace(".", "_")


def open_sweep(sweep_dir: str | Path, complete: bool = True):
    """Every point of a sweep with a store, stacked into one xarray.Dataset.

    Dimensions: one per non-seed sweep axis (named by its key with dots as underscores:
    model.width -> model_width, coordinate = the axis values), seed (the seed axes' values:
    run.seed or data.seed; the index of each seed combination when both are swept, with
    run_seed / data_seed coordinates; size 1 when no seed is swept), then snapshot,
    snapshot_w and log as in glasslab.open.  Every point is cut to the snapshots (and
    running-loss entries) all points have, so a sweep still running stacks on its common
    prefix; points without a store yet, and combinations the grid lacks, are NaN.
    Variables and their attributes are glasslab.open's, without the weights (N differs
    across a width axis).  attrs: sweep, axes (the manifest's), seed_axes, points (id,
    overrides, state, store of every point stacked), docs.

        ds.msd.mean("seed"), ds.msd.std("seed") / np.sqrt(ds.sizes["seed"])

    Raises BadInput when no point has a store with a snapshot yet, or when the points do not
    share one snapshot grid (a sweep over run.steps or recording.*: open the points one by one).
    complete: as in glasslab.open.
    """
    xr = require_xarray()
    sweep_dir = Path(sweep_dir)
    m = manifest.read(sweep_dir)
    axes = list(m["axes"])
    seed_axes = [a for a in axes if a in SEED_AXES]
    group_axes = [a for a in axes if a not in SEED_AXES]
    runs, points = [], []
    for p in m["points"]:
        store = sweep_dir / p["store"]
        if not store.exists():
            continue
        ds = open_run(store, weights=False, complete=complete)
        if ds.sizes["snapshot"] == 0:
            continue
        runs.append(ds)
        points.append(p)
    if not runs:
        raise BadInput(f"no point of {sweep_dir} has a store with a snapshot yet (glasslab sweep status {sweep_dir})")
    k = min(ds.sizes["snapshot"] for ds in runs)
    n_log = min(ds.sizes["log"] for ds in runs)
    base = runs[0]["step"].values[:k]
    for ds, p in zip(runs, points):
        if not np.array_equal(ds["step"].values[:k], base):
            raise BadInput(f"point {p['id']} of {sweep_dir} has another snapshot grid than point {points[0]['id']}: "
                           "the points cannot share a snapshot axis (open them one by one with glasslab.open)")
    seed_keys = list(dict.fromkeys(tuple(p["overrides"][a] for a in seed_axes) for p in points))
    cut = []
    for ds, p in zip(runs, points):
        ds = ds.drop_indexes(["step", "step_w", "log_step"]).isel(snapshot=slice(0, k), snapshot_w=slice(0, k),
                                                                  log=slice(0, n_log))
        labels = {dim_name(a): p["overrides"][a] for a in group_axes}
        labels["seed"] = seed_keys.index(tuple(p["overrides"][a] for a in seed_axes))
        cut.append(ds.drop_vars(["step", "step_w", "lag", "log_step"]).expand_dims("point")
                   .assign_coords({name: ("point", [v]) for name, v in labels.items()}))
    stacked = xr.concat(cut, dim="point", combine_attrs="drop")
    index = [dim_name(a) for a in group_axes] + ["seed"]
    if len(index) == 1:  # only the seed axis: set_index would build a plain index, which does not unstack
        stacked = stacked.swap_dims(point=index[0]).drop_vars("point", errors="ignore")
    else:
        stacked = stacked.set_index(point=index).unstack("point")
    first = runs[0].isel(snapshot=slice(0, k), snapshot_w=slice(0, k), log=slice(0, n_log))
    stacked = stacked.assign_coords({c: first[c].variable for c in ("step", "step_w", "lag", "log_step")})
    for name in ("step", "step_w", "log_step"):
        stacked = stacked.set_xindex(name)
    if len(seed_axes) == 1:
        stacked = stacked.assign_coords(seed=[key[0] for key in seed_keys])
    for j, a in enumerate(seed_axes if len(seed_axes) > 1 else []):
        stacked = stacked.assign_coords({dim_name(a): ("seed", [key[j] for key in seed_keys])})
    stacked["seed"].attrs.update(long_name="seed", description=f"the swept seed axes: {', '.join(seed_axes) or 'none'}")
    for a in group_axes:
        stacked[dim_name(a)].attrs.update(long_name=a, description="a sweep axis: a preset key and its values")
    stacked = stacked.transpose(*index, ...)
    for name in stacked.data_vars:  # unstack and concat keep no variable attributes everywhere: restore them
        stacked[name].attrs = dict(runs[0][name].attrs)
    stacked.attrs = {"sweep": str(sweep_dir), "axes": m["axes"], "seed_axes": seed_axes,
                     "points": [{k: p.get(k) for k in ("id", "overrides", "state", "store")} for p in points],
                     "n_snapshots": k, "docs": "docs/notebook.md, docs/science.md"}
    return stacked
