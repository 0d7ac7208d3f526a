"""Writers of the real data-set formats for the tests: IDX (gzipped or not), the CIFAR-10 and
CIFAR-100 pickles in the layout of the released archives.  Tiny files, real formats."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# ---------------------------------------------------------------- writers of the real formats

def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX: 0x00 0x00 0x08 (unsigned byte) ndim, then ndim big-endian uint32 sizes, then the data."""
    assert arr.dtype == np.uint8
    return bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path


def tiny_images(n: int, seed: int, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """n random uint8 images (pairwise distinct) and labels with n // 10 (or more) of each of 10 classes."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    y = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    assert len({im.tobytes() for im in x}) == n
    return x, y


def write_idx_set(folder: Path, n_train: int = 30, n_test: int = 20, gz: bool = True, seed: int = 0):
    """The four IDX files of an MNIST-format set; returns {split: (images, labels)}."""
    sets = {"train": tiny_images(n_train, seed), "test": tiny_images(n_test, seed + 100)}
    for split, (x, y) in sets.items():
        write_idx(folder / IDX_NAMES[split][0], x, gz)
        write_idx(folder / IDX_NAMES[split][1], y, gz)
    return sets


def write_pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the released archives are Python 2 pickles (protocol 2)


def cifar_images(n: int, rng) -> np.ndarray:
    """[n, 3072] uint8 rows in the CIFAR layout (R plane, G plane, B plane, each 32x32 row-major).
    The channels have different ranges so that per-channel statistics differ."""
    planes = [rng.integers(lo, hi, size=(n, 1024)) for lo, hi in ((0, 256), (0, 64), (192, 256))]
    x = np.concatenate(planes, axis=1).astype(np.uint8)
    assert len({row.tobytes() for row in x}) == n
    return x


def write_cifar10(root: Path, per_batch: int = 6, n_test: int = 20, seed: int = 0):
    """cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}; returns {split: (rows, labels)}."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    n_train = 5 * per_batch
    xtr, ytr = cifar_images(n_train, rng), [int(v) for v in rng.permutation(np.arange(n_train) % 10)]
    for b in range(5):
        sl = slice(b * per_batch, (b + 1) * per_batch)
        write_pickle(folder / f"data_batch_{b + 1}", {
            "batch_label": f"training batch {b + 1} of 5", "labels": ytr[sl], "data": xtr[sl],
            "filenames": [f"img_{i}.png" for i in range(sl.start, sl.stop)]})
    xte, yte = cifar_images(n_test, rng), [int(v) for v in rng.permutation(np.arange(n_test) % 10)]
    write_pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": yte, "data": xte,
                                         "filenames": [f"t_{i}.png" for i in range(n_test)]})
    write_pickle(folder / "batches.meta", {"num_cases_per_batch": per_batch, "num_vis": 3072,
                                           "label_names": [f"class{c}" for c in range(10)]})
    return {"train": (xtr, np.array(ytr)), "test": (xte, np.array(yte))}


def write_cifar100(root: Path, n_train: int = 150, n_test: int = 100, seed: int = 0):
    """cifar-100-python/{train, test, meta}; returns {split: (rows, fine labels)}."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = cifar_images(n, rng)
        fine = [int(v) for v in rng.permutation(np.arange(n) % 100)]
        write_pickle(folder / split, {"filenames": [f"{split}_{i}.png" for i in range(n)], "batch_label": split,
                                      "fine_labels": fine, "coarse_labels": [f // 5 for f in fine], "data": x})
        out[split] = (x, np.array(fine))
    write_pickle(folder / "meta", {"fine_label_names": [f"fine{c}" for c in range(100)],
                                   "coarse_label_names": [f"coarse{c}" for c in range(20)]})
    return out
