"""A run store as one xarray Dataset (`glasslab.open`) and the (t_w, lag) view of a two-time array (`glasslab.lagged`).

The store's format is core/store/layout.py; this module only reads it (never writes,
never completes the two-time matrices: `glasslab.analyze` does that) and names what it
reads: dimensions, coordinates, long names, units, formulas and papers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from glasslab.core.store import layout, reader
from glasslab.core.store import lock as store_lock

# Root attributes that describe the writer's bookkeeping, not the run.
_BOOKKEEPING = ("n_loss", "resume")


def require_xarray():
    """xarray, or one clear ImportError naming the extra that installs it."""
    try:
        import xarray
    except ImportError:
        raise ImportError("glasslab's notebook API needs xarray: pip install 'glasslab[notebook]' "
                          "(or pip install xarray)") from None
    return xarray


def _meta(path: str, **extra) -> dict[str, Any]:
    long_name, units, description = layout.VARIABLES[path]
    return {"long_name": long_name, "units": units, "description": description, "store_path": path, **extra}


def _layer_coord(xr, param_layout: list, n_params: int):
    """The `layer` coordinate on `param`: the layer name of each parameter, computed only for what a
    selection asks (a string per parameter would cost ~100 bytes x N when built in full)."""
    from xarray.backends import BackendArray
    from xarray.core import indexing

    names = np.array([str(name) for name, _shape, _offset in param_layout] or ["?"])
    offsets = np.array([int(offset) for _name, _shape, offset in param_layout] or [0])

    class LayerNames(BackendArray):
        shape = (n_params,)
        dtype = names.dtype

        def __getitem__(self, key):
            return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

        def _raw(self, key):
            idx = np.arange(n_params)[key]
            return names[np.searchsorted(offsets, idx, side="right") - 1]

    return xr.Variable(("param",), indexing.LazilyIndexedArray(LayerNames()),
                       {"long_name": "layer of the parameter", "description": "from the store's param_layout"})


def open(path: str | Path, weights: bool = True, complete: bool = True):
    """One run store as an xarray.Dataset, cut to its committed snapshots.

    A live run is a valid prefix (whole snapshots only): attrs["status"] is the store's status
    (running | finished | interrupted | diverged), attrs["live"] whether a writer holds it now.

    Dimensions: snapshot (K committed snapshots), snapshot_w (the same K, as the waiting
    snapshot of a two-time array), param (N parameters), log (the running-loss entries).
    Coordinates: step [snapshot] and step_w [snapshot_w] (training steps, indexed: .sel(step=...)),
    lag [snapshot_w, snapshot] = step - step_w in steps (NaN below the diagonal), layer [param],
    log_step [log].
    Variables: weights [snapshot, param] float32, lazy (read on .values / .load());
    train_loss, train_acc, test_loss, test_acc, n_delta, D, D_batch, weight_norm2 [snapshot];
    msd, overlap, alpha2, participation [snapshot_w, snapshot]: X(t_w, t_w + t) with
    t_w = step_w and t_w + t = step (the later snapshot, not the lag: use lagged() for the
    lag view); running_loss [log].  Each carries long_name, units (with its normalisation,
    e.g. per parameter) and description (formula and paper: [BJ18] arXiv:1803.06969, [KWJ24]
    arXiv:2405.13098, [SG19] arXiv:1810.09665; docs/science.md section 4).
    During a run only the rows of the online waiting times are filled; complete=True (the
    default) fills the whole upper triangle as `glasslab analyze` does: saved into a store
    that no writer holds (once, under the store's lock), computed in memory for a live one.
    complete=False reads what is stored (NaN where not computed yet; attrs["two_time_complete"]
    = the snapshot count covered).
    attrs: the store's root attributes (preset, events, seed, device, glasslab_version,
    git_commit, torch_version, param_layout, snapshot_grid ...) plus store, live, format_version
    (1 for stores written before it existed) and waiting_time_steps (the online t_w, in steps;
    the store's waiting_snapshots, waiting_times before format 3, hold snapshot indices).
    Stores of formats 1 (dims t_w, t) and 2 read the same.
    weights=False leaves the weights and param out.

    Raises BadInput (one line) when `path` is not a glasslab store, ImportError without xarray.
    """
    xr = require_xarray()
    t = reader.Trajectory.open(path)  # the committed counts, read once: everything is cut to them
    n, n_loss = t.n_snapshots, int(t.attrs.get("n_loss", 0))
    steps = np.asarray(t.steps, dtype=np.int64)
    lag = (steps[None, :] - steps[:, None]).astype(np.float64)
    lag[np.tril_indices(n, -1)] = np.nan
    coords: dict[str, Any] = {
        "step": ("snapshot", steps, {"long_name": "training step t", "units": "steps"}),
        "step_w": ("snapshot_w", steps, {"long_name": "waiting time t_w", "units": "steps"}),
        "lag": (("snapshot_w", "snapshot"), lag, {"long_name": "lag t = step - step_w", "units": "steps"}),
    }
    data: dict[str, Any] = {}
    for name, values in t.evals().items():
        data[name] = ("snapshot", values, _meta(f"evals/{name}"))
    for name in layout.OBSERVABLES:
        values = t.array(f"observables/{name}")
        data[name] = ("snapshot", values if values is not None else np.full(n, np.nan), _meta(f"observables/{name}"))
    mats = _two_time(path, t) if complete else {}
    for name in layout.TWO_TIME:
        values = mats[name][:n, :n] if name in mats else t.array(name)
        data[name] = (("snapshot_w", "snapshot"), values if values is not None else np.full((n, n), np.nan),
                      _meta(name, t_w="step_w", t_w_plus_t="step"))
    log_step = np.asarray(t.root["loss/step"][:n_loss], dtype=np.int64)
    coords["log_step"] = ("log", log_step, {"long_name": "training step of the running loss", "units": "steps"})
    data["running_loss"] = ("log", np.asarray(t.root["loss/value"][:n_loss]), _meta("loss/value"))
    ds = xr.Dataset(data, coords)
    if weights:
        # Lazy: xarray's own zarr reader, no dask needed; nothing is read until asked for.
        lazy = xr.open_zarr(str(path), consolidated=False, chunks=None, mask_and_scale=False,
                            drop_variables=[k for k in t.root.array_keys() if k != "weights"])["weights"]
        ds["weights"] = lazy.isel(snapshot=slice(0, n)).drop_vars(list(lazy.coords)).assign_attrs(_meta("weights"))
        ds = ds.assign_coords(layer=_layer_coord(xr, t.attrs.get("param_layout", []), t.n_params))
    for name in ("step", "step_w", "log_step"):
        ds = ds.set_xindex(name)
    attrs = {k: v for k, v in t.attrs.items() if k not in _BOOKKEEPING}
    waiting = [i for i in layout.waiting_snapshots(t.attrs) if 0 <= i < n]
    attrs.update(store=str(Path(path)), live=store_lock.lock_owner(path) is not None,
                 format_version=int(t.attrs.get("format_version", 1)), n_snapshots=n,
                 waiting_time_steps=[int(steps[i]) for i in waiting])
    if mats:
        attrs["two_time_complete"] = n
    ds.attrs = attrs
    return ds


def _two_time(path, t: reader.Trajectory) -> dict[str, np.ndarray]:
    """The complete two-time matrices (core.analysis.report.load_two_time), {} when there are too few snapshots."""
    if int(t.attrs.get("two_time_complete", 0)) == t.n_snapshots or t.n_snapshots < 3:
        return {}
    from glasslab.core.analysis.report import load_two_time

    _t, mats = load_two_time(Path(path))
    return mats


def lagged(da):
    """The (t_w, lag) view of a two-time array: every aging plot's Delta(t_w, t_w + t) against t per t_w.

    da: a DataArray with dims snapshot_w and snapshot (e.g. ds.msd, or a sweep's stacked msd
    with more dims) and coords step_w, step.  Returns the same values on dims
    (..., snapshot_w, offset), offset = 1 .. K-1 snapshots after the waiting snapshot, with
    coords step_w [snapshot_w] and lag [snapshot_w, offset] = step(snapshot_w + offset) - step_w
    in steps.  Cells past the last snapshot are NaN (lag too).  The diagonal (lag 0) is left
    out, so log-log axes take every point.  Attributes are kept.

        glasslab.lagged(ds.msd).plot.line(x="lag", hue="step_w", xscale="log", yscale="log")
    """
    xr = require_xarray()
    missing = {"snapshot_w", "snapshot"} - set(da.dims)
    if missing:
        raise ValueError(f"lagged() needs a two-time array with dims (snapshot_w, snapshot); {da.name!r} has {da.dims}")
    n = da.sizes["snapshot"]
    steps = np.asarray(da["step"].values, dtype=np.int64)
    i = np.arange(n)[:, None]
    j = i + np.arange(1, max(n, 2))[None, :]
    valid = j < n
    jc = np.minimum(j, n - 1)
    out = da.drop_vars([c for c in ("lag", "step") if c in da.coords]).isel(
        snapshot=xr.DataArray(jc, dims=("snapshot_w", "offset")))
    lag = np.where(valid, steps[jc] - steps[i], np.nan)
    out = out.where(xr.DataArray(valid, dims=("snapshot_w", "offset")))
    out = out.assign_coords(offset=np.arange(1, j.shape[1] + 1),
                            lag=(("snapshot_w", "offset"), lag, {"long_name": "lag t", "units": "steps"}))
    return out.assign_attrs(da.attrs)
