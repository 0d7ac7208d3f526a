"""The Zarr v3 layout of a run store: the format contract, and the helpers that create and write it.

One group per run (`runs/NAME-YYYYmmdd-HHMMSS.zarr`):

    attrs     glasslab_version, preset, seed, device, threads (torch's intra-op count),
              torch_version, git_commit, n_params, param_layout [(name, shape, offset)],
              status (running | finished | interrupted | diverged), events [{step, kind, ...}]
              (a `resumed` event: its session's threads, device, glasslab_version, torch_version),
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
    msd, overlap, alpha2, participation   float64 [snapshot_w, snapshot]:
              msd[i, j] = Delta(snapshot_step[i], snapshot_step[j]) for j >= i, NaN
              below the diagonal: both indices are snapshots, the second one the
              LATER snapshot (absolute time t_w + t), not the lag t; rows of the
              online waiting times (attribute waiting_snapshots: snapshot indices;
              waiting_time_steps: the same t_w in steps) fill during the run, the whole upper triangle at its end
              (attribute two_time_complete = the snapshot count it covers)

Format versions (root attribute format_version; absent = 1): 1 named the two-time
dimensions ("t_w", "t"), which read like a waiting time and a lag; 2 names them
("snapshot_w", "snapshot").  Every reader accepts both (TWO_TIME_DIMS).  3 names the
online t_w attribute waiting_snapshots (snapshot indices; 1-2 called it waiting_times,
which read like steps) and adds waiting_time_steps; readers take either (waiting_snapshots()).
VARIABLES below gives every array its long name, units, formula and paper: the
notebook API (glasslab.open) puts them on the xarray variables.

Consistency: every per-snapshot array is created at its full size (the snapshot
grid is known in advance), so xarray always sees arrays of matching sizes; rows
not written yet hold the fill value (NaN, or -1 for steps).  The loss log grows:
it starts at min(steps // log_every, LOSS_BLOCK) entries and doubles when full
(grow_log), so an absurd planned step count costs nothing (issue 31.5); stores
before that held steps // log_every entries from the start, and every reader
reads the log up to the committed `n_loss` either way.  A snapshot is written
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
from zarr.storage import LocalStore

from glasslab.core.store.lock import NO_HARD_LINKS

EVALS = ("train_loss", "train_acc", "test_loss", "test_acc", "n_delta")
OBSERVABLES = ("D", "D_batch", "weight_norm2")
# store name -> (key in SnapshotTaken.displacements, diagonal value)
TWO_TIME = {"msd": ("delta", 0.0), "overlap": ("overlap", 1.0),
            "alpha2": ("alpha2", math.nan), "participation": ("participation", math.nan)}
WEIGHT_CHUNK = 2**20
FORMAT_VERSION = 3
# The dimension names of the two-time matrices, newest first: (waiting snapshot, later snapshot).
TWO_TIME_DIMS = (("snapshot_w", "snapshot"), ("t_w", "t"))
STATUSES = ("running", "finished", "interrupted", "diverged")


def waiting_snapshots(attrs: dict[str, Any]) -> list[int]:
    """The online waiting times of a store's root attributes, as snapshot indices (formats 1-3)."""
    return [int(i) for i in attrs.get("waiting_snapshots", attrs.get("waiting_times", []))]


def _array(group, name, shape, chunks, dtype, fill, dims, shards=None):
    # No compressor anywhere: float32 weights barely compress (NOTES.md) and the small
    # arrays are rewritten a chunk at a time during the run, where zstd would cost more than it saves.
    return group.create_array(name, shape=shape, chunks=chunks, shards=shards, dtype=dtype, fill_value=fill,
                              compressors=None, dimension_names=dims)


class _LocalStore(LocalStore):
    """zarr's LocalStore, working on file systems without hard links (issue 31.3).

    zarr 3.1 writes every parent group's zarr.json "if not exists" by hard-linking a temporary file
    into place (atomic, exclusive) each time an array is created; exFAT/vfat, some SMB, virtiofs and
    FUSE mounts refuse link(2) (EPERM, ENOTSUP, ENOSYS), so no store could be created there.  Where
    link is refused, the key is written (an atomic rename) if it is not there: exclusive enough, as
    only the holder of the store's lock (core/store/lock.py) creates arrays in it."""

    async def set_if_not_exists(self, key: str, value) -> None:
        try:
            await super().set_if_not_exists(key, value)
        except OSError as err:
            if err.errno not in NO_HARD_LINKS:
                raise
            if not await self.exists(key):
                await self.set(key, value)


def local_store(path: str | Path, mode: str) -> LocalStore:
    """The zarr store of a run's folder, opened for `mode` ("r": read-only)."""
    return _LocalStore(Path(path), read_only=mode == "r")


def create(path: Path, attrs: dict[str, Any], n_params: int, capacity: int, loss_capacity: int) -> zarr.Group:
    """A new trajectory group with every array at full size (all fill); fails if a group is at `path`
    (an empty directory is fine: core/store/paths.py claims a new store's name by creating it)."""
    root = zarr.open_group(store=local_store(path, "w-"), mode="w-", zarr_format=3)
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
        _array(root, name, (capacity, capacity), (64, 64), "float64", math.nan, TWO_TIME_DIMS[0])
    loss = root.create_group("loss")
    _array(loss, "step", (loss_capacity,), (4096,), "int64", -1, ("log",))
    _array(loss, "value", (loss_capacity,), (4096,), "float64", math.nan, ("log",))
    commit_attrs(root, {**attrs, "format_version": FORMAT_VERSION, "n_snapshots": 0, "n_loss": 0})
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
    thread (and its share of the GIL) small.  Array.async_array is public from
    zarr 3.1.4 (the floor in pyproject.toml); the bridge to zarr's loop is not
    (private_sync); without it the writes go one by one through the public API.
    """
    import asyncio

    sync = private_sync()
    if sync is None:
        for arr, sel, value in writes:
            arr[sel] = value
        return

    async def all_of():
        await asyncio.gather(*(arr.async_array.setitem(sel, value) for arr, sel, value in writes))

    sync(all_of())


def private_sync():
    """zarr.core.sync.sync (runs a coroutine on zarr's own event loop: not public API), or None
    where a zarr release has moved it: the one place glasslab reaches into zarr's internals."""
    try:
        from zarr.core.sync import sync
    except ImportError:
        return None
    return sync


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


LOSS_BLOCK = 1 << 16  # the loss log's first size (entries): 16 of its 4096-entry chunks
LOSS_CHUNK = 4096
# zarr's resize lists every chunk of the old shape to delete those outside the new one (memory and time
# in the chunk count).  A log longer than this many chunks is an older store's, sized by its plan, of
# which only the committed prefix was ever written: cut without listing.
_LISTED_CHUNKS = 1 << 16


def loss_room(planned: int) -> int:
    """The loss log's size for a new store: its planned entries, at most LOSS_BLOCK (it grows past that)."""
    return max(1, min(int(planned), LOSS_BLOCK))


def grow_log(arrays: list[zarr.Array], end: int) -> int:
    """Make the loss log's arrays hold at least `end` entries (doubling); returns their size."""
    size = arrays[0].shape[0]
    if end > size:
        size = max(end, 2 * size, LOSS_BLOCK)
        for arr in arrays:
            _resize(arr, (size,))
    return size


def _resize(arr: zarr.Array, new: tuple[int, ...]) -> None:
    chunks = math.prod(math.ceil(s / max(c, 1)) for s, c in zip(arr.shape, arr.chunks))
    sync = private_sync()
    if chunks > _LISTED_CHUNKS and sync is not None:
        sync(arr.async_array.resize(new, delete_outside_chunks=False))
    else:
        arr.resize(new)


def set_sizes(root: zarr.Group, n_snapshots: int, n_loss: int) -> None:
    """Resize every per-snapshot array to n_snapshots rows (and columns for the two-time ones) and the loss log to n_loss."""
    size = {"snapshot": n_snapshots, "snapshot_w": n_snapshots, "t_w": n_snapshots, "t": n_snapshots, "log": n_loss}
    for arr, dims in _arrays(root):
        new = tuple(size.get(d, s) for d, s in zip(dims, arr.shape))
        if new != arr.shape:
            _resize(arr, new)


def clear_after(root: zarr.Group, n_snapshots: int, n_loss: int) -> None:
    """Reset what a killed writer may have left past the committed counts: snapshot row n and the loss tail."""
    for arr, dims in _arrays(root):
        fill = arr.metadata.fill_value
        if dims[:1] == ("log",) and arr.shape[0] > n_loss:
            arr[n_loss:] = np.full(arr.shape[0] - n_loss, fill, dtype=arr.dtype)
        elif dims[:1] in (("snapshot",), ("snapshot_w",), ("t_w",)) and arr.shape[0] > n_snapshots:
            arr[n_snapshots] = np.full(arr.shape[1:], fill, dtype=arr.dtype)
            if dims in TWO_TIME_DIMS:
                arr[:, n_snapshots] = np.full(arr.shape[0], fill, dtype=arr.dtype)


def write_two_time(root: zarr.Group, n: int, result) -> None:
    """Store a full two-time computation (core.measure.observables.TwoTimeResult) over snapshots [0, n)."""
    for name in TWO_TIME:
        values = getattr(result, "msd" if name == "msd" else name)
        if values is None:
            continue
        root[name][:n, :n] = values[:n, :n]
    root.attrs["two_time_complete"] = n


# What every array of a store means: array path -> (long_name, units, description with the
# formula and the paper).  Units say the normalisation: Delta and |w|^2 are per parameter
# (divided by N), D and D_B are summed over the N parameters.  docs/science.md, section 4.
VARIABLES: dict[str, tuple[str, str, str]] = {
    "weights": ("weights w", "weight units (the model's parameter values)",
                "all N trainable parameters, flattened in param_layout order, at each snapshot"),
    "snapshot_step": ("training step of the snapshot", "steps", "the step at which the snapshot was taken (log-spaced grid)"),
    "evals/train_loss": ("training loss", "loss units (mean per sample)",
                         "mean per-sample loss over the whole training set, eval mode"),
    "evals/train_acc": ("training accuracy", "fraction (0..1)", "fraction of training samples classified correctly"),
    "evals/test_loss": ("test loss", "loss units (mean per sample)", "mean per-sample loss over the whole test set, eval mode"),
    "evals/test_acc": ("test accuracy", "fraction (0..1)", "fraction of test samples classified correctly"),
    "evals/n_delta": ("unsatisfied constraints N_Delta", "samples (a count)",
                      "N_Delta = #{training samples with y f(x) < 1}, hinge losses only (NaN otherwise) [SG19] "
                      "arXiv:1810.09665"),
    "observables/D": ("gradient noise strength D", "(loss / weight)^2, summed over the N parameters (not per parameter)",
                      "D = (1/M) sum_alpha |grad l_alpha - grad L|^2 over a probe set of M training samples "
                      "[BJ18] arXiv:1803.06969"),
    "observables/D_batch": ("minibatch gradient variance D_B", "(loss / weight)^2, summed over the N parameters",
                            "D_B = sum_params (<g_b^2>_b - <g_b>_b^2) over the minibatches b of one epoch ([BJ18]'s code)"),
    "observables/weight_norm2": ("squared weight norm per parameter |w|^2/N", "weight units^2, per parameter",
                                 "|w|^2 / N = (1/N) sum_i w_i^2"),
    "msd": ("mean square displacement Delta(t_w, t_w + t)", "weight units^2, per parameter",
            "Delta = (1/N) sum_i (w_i(t_w + t) - w_i(t_w))^2 [BJ18] arXiv:1803.06969"),
    "overlap": ("overlap Q(t_w, t_w + t)", "fraction of parameters (0..1)",
                "Q = (1/N) #{i : |w_i(t_w + t) - w_i(t_w)| < eps}, eps = std(w(t_w)) / f, f = recording.overlap_f "
                "[KWJ24] arXiv:2405.13098"),
    "alpha2": ("non-Gaussian parameter alpha_2(t_w, t_w + t)", "dimensionless",
               "alpha_2 = <d^4> / (3 <d^2>^2) - 1, d = w(t_w + t) - w(t_w), 0 for Gaussian displacements "
               "[KWJ24] arXiv:2405.13098"),
    "participation": ("participation Y(t_w, t_w + t)", "dimensionless",
                      "Y = sum_i d_i^4 / (sum_i d_i^2)^2, d = w(t_w + t) - w(t_w); about 3/N when all weights move "
                      "alike, of order 1 when a few carry the motion ([BJ18]'s code)"),
    "loss/value": ("running minibatch loss", "loss units (mean per sample of the minibatch)",
                   "the loss that drove the update, read every recording.log_every steps, training mode (noisy)"),
    "loss/step": ("training step of the running loss", "steps", "the step each running loss was read at"),
}
