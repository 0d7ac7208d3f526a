"""The xarray engine (api/xarray_backend.py) through xarray's own entry points, from the installed
package's entry point: xr.open_dataset(engine="glasslab") is glasslab.open, and open_mfdataset
stacks the seeds of two real runs as a user's own tooling would."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest
import xarray as xr
import zarr

import glasslab
from glasslab.core.errors import BadInput

from support.presets import tiny_preset

pytestmark = pytest.mark.xdist_group("notebook")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Two finished tiny runs of one preset, seeds 0 and 1 (the same snapshot grid)."""
    from glasslab.core.store.writer import TrajectoryWriter
    from glasslab.core.train.run import Run, drive

    folder = tmp_path_factory.mktemp("engine")
    stores = []
    for seed in (0, 1):
        path = folder / f"run-seed{seed}.zarr"
        drive(Run(tiny_preset(**{"run.steps": 150, "run.seed": seed})), [TrajectoryWriter(path)])
        stores.append(path)
    return stores


def test_the_engine_is_registered_by_the_installed_package():
    eps = importlib.metadata.entry_points(group="xarray.backends")
    assert "glasslab" in eps.names
    assert eps["glasslab"].value == "glasslab.xarray_backend:GlasslabBackendEntrypoint"
    assert "glasslab" in xr.backends.list_engines()


def test_open_dataset_is_glasslab_open(seeds):
    ours = glasslab.open(seeds[0])
    ds = xr.open_dataset(seeds[0], engine="glasslab")
    assert dict(ds.sizes) == dict(ours.sizes)
    for name in ("train_loss", "msd", "overlap", "running_loss", "D"):
        np.testing.assert_array_equal(ds[name].values, ours[name].values)
        assert ds[name].attrs["units"] == ours[name].attrs["units"]
    np.testing.assert_array_equal(ds.weights.values, zarr.open_group(str(seeds[0]), mode="r")["weights"][:])
    np.testing.assert_array_equal(ds.step.values, ours.step.values)
    assert ds.attrs["preset"] == ours.attrs["preset"] and ds.attrs["status"] == "finished"
    assert float(ds.msd.sel(step_w=int(ds.step[2]), step=int(ds.step[5]))) == float(ours.msd[2, 5])


def test_open_dataset_takes_glasslab_options_and_drop_variables(seeds):
    ds = xr.open_dataset(seeds[0], engine="glasslab", weights=False, drop_variables=["D_batch"])
    assert "weights" not in ds and "param" not in ds.dims and "D_batch" not in ds
    assert "train_loss" in ds
    dropped = xr.open_dataset(seeds[0], engine="glasslab", drop_variables="weights")
    assert "weights" not in dropped


def test_open_mfdataset_stacks_two_seeds(seeds):
    """xarray's defaults (dask chunks, coords="different"), each store's seed as the new dim's coordinate."""
    ds = xr.open_mfdataset(seeds, engine="glasslab", combine="nested", concat_dim="seed",
                           preprocess=lambda one: one.assign_coords(seed=one.attrs["seed"]))
    assert ds.sizes["seed"] == 2 and list(ds.seed.values) == [0, 1]
    for k, store in enumerate(seeds):
        alone = glasslab.open(store)
        for name in ("train_loss", "msd", "running_loss", "weights"):
            np.testing.assert_array_equal(ds[name].sel(seed=k).values, alone[name].values)
    # the two seeds really differ: the stack is not one run twice
    assert not np.array_equal(ds.train_loss.sel(seed=0).values, ds.train_loss.sel(seed=1).values)
    np.testing.assert_allclose(ds.train_loss.mean("seed").values,
                               (glasslab.open(seeds[0]).train_loss.values + glasslab.open(seeds[1]).train_loss.values) / 2)


def test_guess_can_open_knows_a_glasslab_store_from_another_zarr(seeds, tmp_path):
    engine = xr.backends.list_engines()["glasslab"]
    assert engine.guess_can_open(seeds[0]) and engine.guess_can_open(str(seeds[0]))
    other = tmp_path / "plain.zarr"
    zarr.open_group(str(other), mode="w").attrs["x"] = 1
    assert not engine.guess_can_open(other)
    assert not engine.guess_can_open(tmp_path / "nothing.zarr")
    assert json.loads((seeds[0] / "zarr.json").read_text())["attributes"]["glasslab_version"]


def test_not_a_store_is_one_glasslab_error(tmp_path):
    with pytest.raises(BadInput):
        xr.open_dataset(tmp_path, engine="glasslab")
