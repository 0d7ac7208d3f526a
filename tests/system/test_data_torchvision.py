"""MNIST and CIFAR through torchvision's own classes, on tiny files written in the released layouts
(split from test_data.py): no reader is mocked."""

from __future__ import annotations

import numpy as np
import pytest

from glasslab.core.errors import BadInput
from glasslab.core.system import data
from glasslab.core.system.data import availability, load

from support.data_files import IDX_NAMES, cifar_images, idx_bytes, tiny_images, write_cifar10  # noqa: F401
from support.data_files import write_cifar100, write_idx, write_idx_set, write_pickle  # noqa: F401
from support.data_checks import bad_input, cfg_of, check_normalised, check_subset, no_system_fashion  # noqa: F401


# ---------------------------------------------------------------- mnist through torchvision

def test_mnist_through_torchvision(tmp_path):
    sets = write_idx_set(tmp_path / "MNIST" / "raw", n_train=30, n_test=20, gz=False, seed=11)
    ds = load(cfg_of("mnist", 20, 10, normalize=False), data_dir_override=str(tmp_path))
    assert ds.name == "mnist" and ds.classes == 10 and ds.input_shape == (1, 28, 28)
    check_subset(ds.x_train, ds.y_train, *sets["train"], size=20, classes=10)
    check_subset(ds.x_test, ds.y_test, *sets["test"], size=10, classes=10)
    normed = load(cfg_of("mnist", 20, 10), data_dir_override=str(tmp_path))
    check_normalised(normed, ds)


@pytest.mark.parametrize("where", ["MNIST/raw", "mnist"])
def test_mnist_gzipped_in_torchvisions_own_layout_is_found(tmp_path, where):
    """Issue 31 item 13: the .gz files torchvision's own download leaves in MNIST/raw were "not found"
    (its loader wants them unpacked); they are read as Fashion-MNIST's are, and count as available."""
    sets = write_idx_set(tmp_path / where, n_train=30, n_test=20, gz=True, seed=12)
    cfg = cfg_of("mnist", 20, 10, normalize=False)
    assert availability(cfg, str(tmp_path)) == (True, "found")
    ds = load(cfg, data_dir_override=str(tmp_path))
    check_subset(ds.x_train, ds.y_train, *sets["train"], size=20, classes=10)
    check_subset(ds.x_test, ds.y_test, *sets["test"], size=10, classes=10)


def test_mnist_truncated_is_bad_input_not_missing(tmp_path):
    raw_dir = tmp_path / "MNIST" / "raw"
    write_idx_set(raw_dir, gz=False)
    path = raw_dir / IDX_NAMES["train"][0]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(BadInput) as e:
        load(cfg_of("mnist", 20, 10), data_dir_override=str(tmp_path))
    msg = bad_input(e, str(raw_dir), "truncated")
    assert "not found" not in msg


def test_mnist_count_mismatch_is_bad_input(tmp_path):
    raw_dir = tmp_path / "MNIST" / "raw"
    sets = write_idx_set(raw_dir, gz=False)
    write_idx(raw_dir / IDX_NAMES["test"][1], sets["test"][1][:-2], False)
    with pytest.raises(BadInput) as e:
        load(cfg_of("mnist", 20, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(raw_dir), "20 images", "18 labels")


def test_mnist_missing_is_bad_input(tmp_path):
    with pytest.raises(BadInput) as e:
        load(cfg_of("mnist", 20, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(tmp_path / "MNIST" / "raw"), "--download", "not found",
              *(s for st in IDX_NAMES.values() for s in st))


# ---------------------------------------------------------------- cifar through torchvision

def test_cifar10_through_torchvision(tmp_path):
    sets = write_cifar10(tmp_path)
    ds = load(cfg_of("cifar10", 20, 10, normalize=False), data_dir_override=str(tmp_path))
    assert ds.name == "cifar10" and ds.classes == 10 and ds.input_shape == (3, 32, 32)
    for split, size in (("train", 20), ("test", 10)):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        rows, labels = sets[split]
        idx = check_subset(x, y, rows, labels, size=size, classes=10)
        # NCHW: x[n, c, h, w] is byte c*1024 + h*32 + w of the row
        n, c, h, w = 3, 2, 5, 17
        assert x[n, c, h, w].item() == np.float32(rows[idx[n], c * 1024 + h * 32 + w]) / np.float32(255)
    normed = load(cfg_of("cifar10", 20, 10), data_dir_override=str(tmp_path))
    check_normalised(normed, ds)
    assert normed.mean[1] < normed.mean[0] < normed.mean[2]  # the channel ranges written


def test_cifar100_through_torchvision_uses_fine_labels(tmp_path):
    sets = write_cifar100(tmp_path)
    ds = load(cfg_of("cifar100", 100, 100, normalize=False), data_dir_override=str(tmp_path))
    assert ds.name == "cifar100" and ds.classes == 100 and ds.input_shape == (3, 32, 32)
    check_subset(ds.x_train, ds.y_train, *sets["train"], size=100, classes=100)
    check_subset(ds.x_test, ds.y_test, *sets["test"], size=100, classes=100)


@pytest.mark.parametrize("name,writer,victim", [
    ("cifar10", write_cifar10, "test_batch"),
    ("cifar10", write_cifar10, "data_batch_3"),
    ("cifar100", write_cifar100, "train"),
])
def test_cifar_truncated_pickle_is_bad_input(tmp_path, name, writer, victim):
    writer(tmp_path)
    path = tmp_path / data.CIFAR_DIRS[name] / victim
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BadInput) as e:
        load(cfg_of(name, 10, 10), data_dir_override=str(tmp_path))
    msg = bad_input(e, str(tmp_path / data.CIFAR_DIRS[name]), "truncated", "--download")
    assert "not found" not in msg


def test_cifar_count_mismatch_is_bad_input(tmp_path):
    sets = write_cifar10(tmp_path)
    rows, labels = sets["test"]
    write_pickle(tmp_path / "cifar-10-batches-py" / "test_batch", {"labels": labels[:-1].tolist(), "data": rows})
    with pytest.raises(BadInput) as e:
        load(cfg_of("cifar10", 10, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(tmp_path / "cifar-10-batches-py"), "20 images", "19 labels")


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_missing_is_bad_input(tmp_path, name):
    with pytest.raises(BadInput) as e:
        load(cfg_of(name, 10, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(tmp_path / data.CIFAR_DIRS[name]), "--download", "not found", *data.CIFAR_FILES[name])
