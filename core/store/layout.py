"""The Zarr v3 layout of a run store: the format contract, and the helpers that create and write it.

One group per run (`runs/NAME-YYYYmmdd-HHMMSS.zarr`):

    attrs     glasslab_version, preset, seed, device, threads (torch's intra-op count),
              torch_version, git_commit, n_params, param_layout [(name, shape, offset)],
              status (running | finished | interrupted | diverged), events [{step, kind, ...}],
              snapshot_grid (planned steps), n_snapshots and n_loss (committed counts),
              resume {slot, snapshot, step, source, n_loss, saved_at} (the last saved
              resume state, and saves: how many were saved between snapshots)
    state/slot0, slot1, saved0, saved1   uint8: resume states (core/store/resume_state.py)
    weights           float32 [snapshot, param]; one shard per snapshot, inner chunks (1, <=2^20)
    snapshot_step     int64   [snapshot]
    evals/train_loss, evals/train_acc, evals/test_loss, evals/test_acc   float64 [snapshot]
    evals/n_delta     float64 [snapshot]: N_Delta, training samples with y f(x) < 1 ([SG19];
              a whole number, NaN without a hinge loss and in stores older than it)
    loss/step int64 [log], loss/value float64 [log]: the running minibatch loss
    observables/D, observables/D_batch, observables/weight_norm2   float64 [snapshot]
    msd, overlap, alpha2, participation   float64 [t_w, t] = [snapshot, snapshot]:
              msd[i, j] = Delta(snapshot_step[i], snapshot_step[j]) for j >= i, NaN
              below the diagonal; rows of the online waiting times (attribute
              waiting_times) fill during the run, the whole upper triangle at its
              end (attribute two_time_complete = the snapshot count it covers)

Consistency: every array is created at its full size (the snapshot grid is
known in advance; the loss log holds steps // log_every entries), so no shape
changes during a run and xarray always sees arrays of matching sizes; rows not
written yet hold the fill value (NaN, or -1 for steps).  A snapshot is written
row by row (a weights row is one shard, written by an atomic rename), and only
then is the committed count `n_snapshots` bumped in the root attributes (one
atomic write).  Readers that honour the committed count - everything in
glasslab - see whole snapshots only; plain zarr/xarray readers should mask by
it (or by snapshot_step >= 0).  When a run ends the arrays are cut to the
committed counts, so a finished store has exact shapes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import zarr

EVALS = ("train_loss", "train_acc", "test_loss", "test_acc", "n_delta")
OBSERVABLES = ("D", "D_batch", "weight_norm2")
# store name -> (key in SnapshotTaken.displacements, diagonal value)
TWO_TIME = {"msd": ("delta", 0.0), "overlap": ("overlap", 1.0),
            "alpha2": ("alpha2", math.nan), "participation": ("participation", math.nan)}
WEIGHT_CHUNK = 2**20
STATUSES = ("running", "finished", "interrupted", "diverged")


def _array(group, name, shape, chunks, dtype, fill, dims, shards=None):
    # No compressor anywhere: float32 weights barely compress (NOTES.md) and the small
    # arrays are rewritten a chunk at a time during the run, where zstd would cost more than it saves.
    return group.create_array(name, shape=shape, chunks=chunks, shards=shards, dtype=dtype, fill_value=fill,
                              compressors=None, dimension_names=dims)


def create(path: Path, attrs: dict[str, Any], n_params: int, capacity: int, loss_capacity: int) -> zarr.Group:
    """A new trajectory group with every array at full size (all fill); fails if a group is at `path`
    (an empty directory is fine: core/store/paths.py claims a new store's name by creating it)."""
    root = zarr.open_group(store=str(path), mode="w-", zarr_format=3)
    # Float32 weights barely compress (1.1x, NOTES.md): no compressor, a faster writer.
    # One shard per snapshot, so a row lands in one atomic rename; inner chunks of
    # 2^20 keep column-strip reads (the streaming Delta) from reading whole rows.
    chunk = min(n_params, WEIGHT_CHUNK)
    shards = (1, n_params) if n_params > chunk else None
    _array(root, "weights", (capacity, n_params), (1, chunk), "float32", math.nan, ("snapshot", "param"), shards)
    _array(root, "snapshot_step", (capacity,), (256,), "int64", -1, ("snapshot",))
    evals = root.create_group("evals")
    for name in EVALS:
        _array(evals, name, (capacity,), (256,), "float64", math.nan, ("snapshot",))
    obs = root.create_group("observables")
    for name in OBSERVABLES:
        _array(obs, name, (capacity,), (256,), "float64", math.nan, ("snapshot",))
    # Two-time matrices [i, j] = X(t_i, t_j) for j >= i, NaN below the diagonal and where
    # not computed yet: online rows fill during the run, the rest at its end.
    for name in TWO_TIME:
        _array(root, name, (capacity, capacity), (64, 64), "float64", math.nan, ("t_w", "t"))
    loss = root.create_group("loss")
    _array(loss, "step", (loss_capacity,), (4096,), "int64", -1, ("log",))
    _array(loss, "value", (loss_capacity,), (4096,), "float64", math.nan, ("log",))
    commit_attrs(root, {**attrs, "n_snapshots": 0, "n_loss": 0})
    return root


def add_missing_evals(root: zarr.Group, capacity: int) -> None:
    """Create the EVALS arrays a store written by an older glasslab lacks (n_delta), all NaN, so a resume can write them."""
    for name in EVALS:
        if f"evals/{name}" not in root:
            _array(root["evals"], name, (capacity,), (256,), "float64", math.nan, ("snapshot",))


def write_rows(array: zarr.Array, start: int, rows: np.ndarray) -> None:
    """Write rows [start, start + len(rows)) along axis 0 (within the array's size)."""
    array[start:start + len(rows)] = rows


def write_many(writes: list[tuple[zarr.Array, Any, np.ndarray]]) -> None:
    """Several (array, selection, value) writes in one round trip to zarr's event loop.

    Each synchronous zarr call costs a few milliseconds of bridging; a snapshot
    touches a dozen small arrays, so issuing them together keeps the writer
    thread (and its share of the GIL) small.
    """
    import asyncio

    from zarr.core.sync import sync

    async def all_of():
        await asyncio.gather(*(arr.async_array.setitem(sel, value) for arr, sel, value in writes))

    sync(all_of())


def commit_attrs(root: zarr.Group, attrs: dict[str, Any]) -> None:
    """One atomic write of the root attributes (attrs.update would write once per key)."""
    root.update_attributes(attrs)


def _arrays(root: zarr.Group):
    """Every array of the trajectory except the resume state, with its dimension names."""
    for name, member in root.members():
        if isinstance(member, zarr.Group):
            if name != "state":
                yield from _arrays(member)
        else:
            yield member, tuple(member.metadata.dimension_names or ())


def set_sizes(root: zarr.Group, n_snapshots: int, n_loss: int) -> None:
    """Resize every per-snapshot array to n_snapshots rows (and columns for [t_w, t]) and the loss log to n_loss."""
    for arr, dims in _arrays(root):
        size = {"snapshot": n_snapshots, "t_w": n_snapshots, "t": n_snapshots, "log": n_loss}
        new = tuple(size.get(d, s) for d, s in zip(dims, arr.shape))
        if new != arr.shape:
            arr.resize(new)


def clear_after(root: zarr.Group, n_snapshots: int, n_loss: int) -> None:
    """Reset what a killed writer may have left past the committed counts: snapshot row n and the loss tail."""
    for arr, dims in _arrays(root):
        fill = arr.metadata.fill_value
        if dims[:1] == ("log",) and arr.shape[0] > n_loss:
            arr[n_loss:] = np.full(arr.shape[0] - n_loss, fill, dtype=arr.dtype)
        elif dims[:1] in (("snapshot",), ("t_w",)) and arr.shape[0] > n_snapshots:
            arr[n_snapshots] = np.full(arr.shape[1:], fill, dtype=arr.dtype)
            if dims == ("t_w", "t"):
                arr[:, n_snapshots] = np.full(arr.shape[0], fill, dtype=arr.dtype)


def write_two_time(root: zarr.Group, n: int, result) -> None:
    """Store a full two-time computation (core.observables.TwoTimeResult) over snapshots [0, n)."""
    for name in TWO_TIME:
        values = getattr(result, "msd" if name == "msd" else name)
        if values is None:
            continue
        root[name][:n, :n] = values[:n, :n]
    root.attrs["two_time_complete"] = n
