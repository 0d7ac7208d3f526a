"""What a resume needs, stored inside the run's Zarr group (the one-writer lock: core/store/lock.py).

Resume state (optimizer momentum, every RNG state, the minibatch permutation
and its position, the dynamics, model buffers, the step) is packed into one
uint8 array per slot, `state/slot0` or `state/slot1`, with a JSON table of
contents in the array's attributes (key, dtype, shape, byte offset).  Loading
is `np.frombuffer`: nothing is unpickled or executed.

Two slots alternate: the state of snapshot n goes to slot n % 2 and the root
attributes then commit `resume = {slot, snapshot, step, source, n_loss,
saved_at}` together with `n_snapshots` (one atomic write).  A kill while a slot
is written leaves the committed pointer on the other, complete slot.

Beside them, `state/saved0` and `state/saved1` hold states saved between
snapshots (at a stop, and every recording.checkpoint_minutes): the same state
plus w itself, since no snapshot row holds it.  They alternate in the same way
(the root attribute `saves` counts them), so the pointer always names a
complete slot: `resume.slot` is 0, 1, "saved0" or "saved1".
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
import zarr

# ------------------------------------------------------------------ packing

def pack(state: dict) -> tuple[np.ndarray, dict]:
    """Nested dict of tensors/arrays/JSON values -> (one uint8 blob, a JSON-able table)."""
    chunks: list[bytes] = []
    offset = 0

    def walk(x):
        nonlocal offset
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().contiguous()
            raw = x.view(torch.uint8).numpy().tobytes() if x.numel() else b""
            entry = {"__tensor__": str(x.dtype).removeprefix("torch."), "shape": list(x.shape), "offset": offset}
        elif isinstance(x, np.ndarray):
            raw = np.ascontiguousarray(x).tobytes()
            entry = {"__ndarray__": x.dtype.str, "shape": list(x.shape), "offset": offset}
        elif isinstance(x, dict):
            return {str(k): walk(v) for k, v in x.items()}
        elif isinstance(x, (list, tuple)):
            return {"__seq__": [walk(v) for v in x], "tuple": isinstance(x, tuple)}
        elif isinstance(x, (np.integer, np.floating)):
            return x.item()
        else:
            return x
        chunks.append(raw)
        offset += len(raw)
        entry["nbytes"] = len(raw)
        return entry

    table = walk(state)
    blob = np.frombuffer(b"".join(chunks), dtype=np.uint8) if chunks else np.zeros(0, np.uint8)
    return blob, table


def unpack(blob: np.ndarray, table) -> Any:
    """Inverse of pack; tensors come back as CPU tensors."""
    raw = blob.tobytes()

    def walk(x):
        if isinstance(x, dict) and "__tensor__" in x:
            dtype = getattr(torch, x["__tensor__"])
            data = bytearray(raw[x["offset"]: x["offset"] + x["nbytes"]])
            flat = torch.frombuffer(data, dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8)
            return flat.view(dtype).reshape(x["shape"]).clone()
        if isinstance(x, dict) and "__ndarray__" in x:
            arr = np.frombuffer(raw, dtype=np.dtype(x["__ndarray__"]), count=int(np.prod(x["shape"], dtype=np.int64)),
                                offset=x["offset"])
            return arr.reshape(x["shape"]).copy()
        if isinstance(x, dict) and "__seq__" in x:
            seq = [walk(v) for v in x["__seq__"]]
            return tuple(seq) if x["tuple"] else seq
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return x

    return walk(table)


def slot_name(slot: int | str) -> str:
    return slot if isinstance(slot, str) else f"slot{slot}"


def write_slot(root: zarr.Group, slot: int | str, state: dict, cache: dict | None = None) -> None:
    """Pack `state` into slot `slot` (0, 1, "saved0", "saved1"); `cache` keeps the open slot arrays."""
    blob, table = pack(state)
    cache = {} if cache is None else cache
    name = slot_name(slot)
    arr = cache.get(name)
    if arr is None or arr.shape != blob.shape:  # the size only changes when momentum appears
        group = root.require_group("state")
        arr = cache[name] = group.create_array(name, shape=blob.shape, chunks=(max(len(blob), 1),), dtype="uint8",
                                 compressors=None, overwrite=True, fill_value=0)
    if len(blob):
        arr[:] = blob
    # Not atomic with the data, and need not be: a slot counts only once the root commits it.
    arr.update_attributes({"table": json.loads(json.dumps(table))})


def read_slot(root: zarr.Group, slot: int | str) -> dict:
    arr = root[f"state/{slot_name(slot)}"]
    return unpack(arr[:], arr.attrs["table"])
