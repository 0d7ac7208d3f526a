"""glasslab.core.system.data through its real loaders, on tiny files written in the real formats.

No reader is mocked: IDX files (gzipped or not) go through read_idx, MNIST and
CIFAR files go through torchvision's own classes, pickles are written in the
layout of the released CIFAR archives.  The only thing ever patched is the
location of the system Fashion-MNIST, where a test needs it absent or fake.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from glasslab.core.config.presets import DataConfig
from glasslab.core.errors import BadInput
from glasslab.core.system import data
from glasslab.core.system.data import availability, balanced_indices, info, load, read_idx

from support.data_files import IDX_NAMES, cifar_images, idx_bytes, tiny_images, write_cifar10  # noqa: F401
from support.data_files import write_cifar100, write_idx, write_idx_set, write_pickle  # noqa: F401
from support.data_checks import bad_input, cfg_of, check_normalised, check_subset, match_rows, no_system_fashion  # noqa: F401


# ---------------------------------------------------------------- synthetic

def synth(**kw) -> DataConfig:
    base = dict(name="synthetic", train_size=203, test_size=50, shape=(8,), classes=4, seed=3)
    base.update(kw)
    return DataConfig(**base)


def test_synthetic_is_a_function_of_the_seed():
    a, b = load(synth()), load(synth())
    for f in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    assert a.mean == b.mean and a.std == b.std
    c = load(synth(seed=4))
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_test, c.x_test)
    assert not torch.equal(a.y_train, c.y_train)
    # the seed draws the task itself (inputs and teacher), not only which samples are kept
    # (before normalisation, which depends on the subset)
    a, c = load(synth(normalize=False)), load(synth(seed=4, normalize=False))
    assert not {r.tobytes() for r in a.x_train.numpy()} & {r.tobytes() for r in c.x_train.numpy()}


def test_synthetic_classes_are_exactly_balanced():
    ds = load(synth(train_size=203, test_size=50, classes=4))
    assert np.bincount(ds.y_train.numpy(), minlength=4).tolist() == [51, 51, 51, 50]
    assert np.bincount(ds.y_test.numpy(), minlength=4).tolist() == [13, 13, 12, 12]
    ds = load(synth(train_size=30, test_size=30, classes=3))
    assert np.bincount(ds.y_train.numpy(), minlength=3).tolist() == [10, 10, 10]
    assert ds.y_train.min() >= 0 and ds.y_train.max() < 3


@pytest.mark.parametrize("shape", [(8,), (1, 8, 8), (3, 4, 5)])
def test_synthetic_shapes_follow_data_shape(shape):
    cfg = synth(shape=shape, classes=5, train_size=40, test_size=25)
    ds = load(cfg)
    assert tuple(ds.x_train.shape) == (40, *shape) and tuple(ds.x_test.shape) == (25, *shape)
    assert ds.input_shape == shape and ds.train_size == 40 and ds.classes == 5
    assert info(cfg) == (shape, 5)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert torch.isfinite(ds.x_train).all() and torch.isfinite(ds.x_test).all()


def test_synthetic_labels_are_learnable():
    """A linear least-squares probe fitted on the training set beats chance on the test set
    by more than 4 binomial standard deviations (labels that ignore x would not)."""
    classes, n_test = 4, 400
    ds = load(synth(train_size=800, test_size=n_test, classes=classes, seed=0))
    xtr = np.c_[ds.x_train.double().numpy(), np.ones(len(ds.x_train))]
    xte = np.c_[ds.x_test.double().numpy(), np.ones(n_test)]
    w, *_ = np.linalg.lstsq(xtr, np.eye(classes)[ds.y_train.numpy()], rcond=None)
    acc = float(((xte @ w).argmax(1) == ds.y_test.numpy()).mean())
    chance = 1 / classes
    assert acc > chance + 4 * (chance * (1 - chance) / n_test) ** 0.5, acc


@pytest.mark.parametrize("shape", [(8,), (3, 4, 4)])
def test_synthetic_normalisation_per_channel(shape):
    cfg = synth(shape=shape, train_size=200, test_size=60)
    ds, raw = load(cfg), load(dataclasses.replace(cfg, normalize=False))
    check_normalised(ds, raw)
    assert np.array_equal(ds.y_train.numpy(), raw.y_train.numpy())


# ---------------------------------------------------------------- fashion-mnist from IDX files

def test_read_idx_round_trips_both_encodings(tmp_path):
    x, _ = tiny_images(7, seed=1)
    for gz in (True, False):
        p = write_idx(tmp_path / f"gz{gz}" / "imgs", x, gz)
        got = read_idx(p)
        assert got.dtype == np.uint8 and got.shape == (7, 28, 28) and np.array_equal(got, x)
        assert got.flags.writeable  # torch.from_numpy warns on read-only arrays (whole-set loads)
    lab = np.arange(5, dtype=np.uint8)
    assert np.array_equal(read_idx(write_idx(tmp_path / "lab", lab, True)), lab)


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "uncompressed"])
def test_fashion_reads_the_tiny_files_of_the_data_dir(tmp_path, gz):
    """The data dir wins over the system set (installed or not): sizes and pixels are those written."""
    sets = write_idx_set(tmp_path / "fashion-mnist", n_train=30, n_test=20, gz=gz)
    ds = load(cfg_of("fashion-mnist", 20, 10, normalize=False), data_dir_override=str(tmp_path))
    assert ds.name == "fashion-mnist" and ds.classes == 10 and ds.input_shape == (1, 28, 28)
    check_subset(ds.x_train, ds.y_train, *sets["train"], size=20, classes=10)
    check_subset(ds.x_test, ds.y_test, *sets["test"], size=10, classes=10)
    # size 0 = the whole set, in file order
    whole = load(cfg_of("fashion-mnist", 0, 0, normalize=False), data_dir_override=str(tmp_path))
    assert torch.equal(whole.x_train, torch.from_numpy(sets["train"][0]).float()[:, None] / 255)
    assert torch.equal(whole.y_test, torch.from_numpy(sets["test"][1]).long())


def test_fashion_gzipped_and_uncompressed_give_the_same_set(tmp_path):
    write_idx_set(tmp_path / "a" / "fashion-mnist", gz=True, seed=5)
    write_idx_set(tmp_path / "b" / "fashion-mnist", gz=False, seed=5)
    a = load(cfg_of("fashion-mnist", 20, 10), data_dir_override=str(tmp_path / "a"))
    b = load(cfg_of("fashion-mnist", 20, 10), data_dir_override=str(tmp_path / "b"))
    for f in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f


def test_fashion_subset_is_seeded(tmp_path):
    sets = write_idx_set(tmp_path / "fashion-mnist", n_train=40)
    picks = []
    for seed in (0, 0, 1):
        ds = load(cfg_of("fashion-mnist", 20, 10, seed=seed, normalize=False), data_dir_override=str(tmp_path))
        picks.append(sorted(match_rows(ds.x_train, sets["train"][0]).tolist()))
    assert picks[0] == picks[1] and picks[0] != picks[2]


def test_fashion_data_dir_is_found_through_env_and_config(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "env" / "fashion-mnist", n_train=30)
    write_idx_set(tmp_path / "cfg" / "fashion-mnist", n_train=40)
    write_idx_set(tmp_path / "flag" / "fashion-mnist", n_train=50)
    monkeypatch.setenv("GLASSLAB_DATA", str(tmp_path / "env"))
    whole = dict(train_size=0, test_size=0)
    assert load(DataConfig(name="fashion-mnist", **whole)).train_size == 30
    cfg = DataConfig(name="fashion-mnist", data_dir=str(tmp_path / "cfg"), **whole)
    assert load(cfg).train_size == 40
    assert load(cfg, data_dir_override=str(tmp_path / "flag")).train_size == 50


def test_fashion_data_dir_wins_and_is_never_mixed_with_the_system_set(tmp_path, monkeypatch):
    system = tmp_path / "system"
    sys_sets = write_idx_set(system, n_train=40, n_test=30, seed=7)
    monkeypatch.setattr(data, "SYSTEM_FASHION", system)
    whole = cfg_of("fashion-mnist", 0, 0, normalize=False)
    # a complete set in the data dir wins over the system one
    mine = write_idx_set(tmp_path / "full" / "fashion-mnist", n_train=30, n_test=20, seed=1)
    ds = load(whole, data_dir_override=str(tmp_path / "full"))
    assert torch.equal(ds.y_train, torch.from_numpy(mine["train"][1]).long())
    assert torch.equal(ds.y_test, torch.from_numpy(mine["test"][1]).long())
    # a partial copy (train files only) is not completed with the system's test files
    part = tmp_path / "part" / "fashion-mnist"
    for name in IDX_NAMES["train"]:
        write_idx(part / name, np.zeros((3, 28, 28) if "images" in name else 3, np.uint8), True)
    ds = load(whole, data_dir_override=str(tmp_path / "part"))
    assert torch.equal(ds.y_train, torch.from_numpy(sys_sets["train"][1]).long())
    assert torch.equal(ds.y_test, torch.from_numpy(sys_sets["test"][1]).long())
    assert availability(whole, str(tmp_path / "part")) == (True, "found")


def test_fashion_normalisation_per_channel(tmp_path):
    write_idx_set(tmp_path / "fashion-mnist", n_train=30)
    cfg = cfg_of("fashion-mnist", 20, 10)
    ds = load(cfg, data_dir_override=str(tmp_path))
    raw = load(dataclasses.replace(cfg, normalize=False), data_dir_override=str(tmp_path))
    check_normalised(ds, raw)


def test_real_fashion_mnist_balanced_subset():
    if not all((data.SYSTEM_FASHION / (s + ".gz")).is_file() for st in IDX_NAMES.values() for s in st):
        pytest.skip(f"the system Fashion-MNIST is not installed in {data.SYSTEM_FASHION} "
                    "(apt-get install dataset-fashion-mnist)")
    ds = load(cfg_of("fashion-mnist", 1000, 100))  # GLASSLAB_DATA is an empty directory: the system set is read
    assert ds.input_shape == (1, 28, 28) and ds.classes == 10
    assert tuple(ds.x_train.shape) == (1000, 1, 28, 28) and tuple(ds.x_test.shape) == (100, 1, 28, 28)
    assert np.bincount(ds.y_train.numpy(), minlength=10).tolist() == [100] * 10
    assert np.bincount(ds.y_test.numpy(), minlength=10).tolist() == [10] * 10
    assert len(ds.mean) == len(ds.std) == 1 and 0 < ds.mean[0] < 1 and 0 < ds.std[0] < 1
    assert availability(cfg_of("fashion-mnist", 1000, 100)) == (True, "found")


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "uncompressed"])
@pytest.mark.parametrize("which", [0, 1], ids=["images", "labels"])
def test_fashion_truncated_file_is_bad_input(tmp_path, gz, which):
    write_idx_set(tmp_path / "fashion-mnist", gz=gz)
    path = tmp_path / "fashion-mnist" / (IDX_NAMES["train"][which] + (".gz" if gz else ""))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BadInput) as e:
        load(cfg_of("fashion-mnist", 20, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(path), "truncated")


def test_fashion_wrong_magic_is_bad_input(tmp_path):
    write_idx_set(tmp_path / "fashion-mnist", gz=False)
    path = tmp_path / "fashion-mnist" / IDX_NAMES["test"][1]
    raw = bytearray(path.read_bytes())
    raw[2] = 0x0D  # float32 data, not unsigned bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(BadInput) as e:
        load(cfg_of("fashion-mnist", 20, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(path), "magic")
    path.write_bytes(b"\x1f\x8b" + bytes(raw[2:]))  # not IDX at all
    with pytest.raises(BadInput) as e:
        read_idx(path)
    bad_input(e, str(path), "magic")


def test_fashion_count_mismatch_is_bad_input(tmp_path):
    folder = tmp_path / "fashion-mnist"
    sets = write_idx_set(folder)
    write_idx(folder / IDX_NAMES["train"][1], sets["train"][1][:-1], True)  # one label short
    with pytest.raises(BadInput) as e:
        load(cfg_of("fashion-mnist", 20, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(folder / (IDX_NAMES["train"][0] + ".gz")), str(folder / (IDX_NAMES["train"][1] + ".gz")))


def test_fashion_missing_is_bad_input(tmp_path, no_system_fashion):
    with pytest.raises(BadInput) as e:
        load(cfg_of("fashion-mnist", 20, 10), data_dir_override=str(tmp_path))
    bad_input(e, str(tmp_path / "fashion-mnist"), str(data.SYSTEM_FASHION), "--download",
              "apt-get install dataset-fashion-mnist",
              *(s + ".gz" for st in IDX_NAMES.values() for s in st))
    # one file missing is missing too
    write_idx_set(tmp_path / "fashion-mnist")
    (tmp_path / "fashion-mnist" / (IDX_NAMES["test"][0] + ".gz")).unlink()
    with pytest.raises(BadInput) as e:
        load(cfg_of("fashion-mnist", 20, 10), data_dir_override=str(tmp_path))
    bad_input(e, "--download", "apt-get install dataset-fashion-mnist")


# ---------------------------------------------------------------- availability

def test_availability_synthetic():
    assert availability(DataConfig(name="synthetic")) == (True, "generated from the seed")


def test_availability_fashion(tmp_path, no_system_fashion):
    cfg = cfg_of("fashion-mnist", 20, 10)
    ok, fix = availability(cfg, str(tmp_path))
    assert not ok and "apt-get install dataset-fashion-mnist" in fix and "--download" in fix
    write_idx_set(tmp_path / "fashion-mnist", gz=False)
    assert availability(cfg, str(tmp_path)) == (True, "found")
    load(cfg, data_dir_override=str(tmp_path))  # available means loadable
    (tmp_path / "fashion-mnist" / IDX_NAMES["train"][1]).unlink()
    assert availability(cfg, str(tmp_path))[0] is False


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100"])
def test_availability_torchvision_sets(tmp_path, name):
    cfg = cfg_of(name, 10, 10)
    ok, fix = availability(cfg, str(tmp_path))
    assert not ok and str(tmp_path) in fix and "--download" in fix and "--data-dir" in fix
    if name == "mnist":
        write_idx_set(tmp_path / "MNIST" / "raw", gz=False)
        last = tmp_path / "MNIST" / "raw" / IDX_NAMES["test"][1]
    elif name == "cifar10":
        write_cifar10(tmp_path)
        last = tmp_path / "cifar-10-batches-py" / "batches.meta"
    else:
        write_cifar100(tmp_path)
        last = tmp_path / "cifar-100-python" / "meta"
    assert availability(cfg, str(tmp_path)) == (True, "found")
    load(cfg, data_dir_override=str(tmp_path))  # available means loadable
    last.unlink()
    assert availability(cfg, str(tmp_path))[0] is False


# ---------------------------------------------------------------- balanced_indices

def test_balanced_indices_counts_and_seed():
    y = np.repeat(np.arange(3), [10, 8, 9])
    idx = balanced_indices(y, 7, 3, seed=0, what="t")
    assert np.bincount(y[idx], minlength=3).tolist() == [3, 2, 2]
    assert np.array_equal(idx, np.sort(idx)) and len(set(idx.tolist())) == 7
    assert np.array_equal(idx, balanced_indices(y, 7, 3, seed=0, what="t"))
    assert any(not np.array_equal(idx, balanced_indices(y, 7, 3, seed=s, what="t")) for s in range(1, 4))
    assert len(balanced_indices(y, 24, 3, seed=0, what="t")) == 24  # 8 per class: class 1 exactly used up


def test_balanced_indices_too_small_class_is_bad_input():
    y = np.array([0] * 5 + [1] * 2)
    with pytest.raises(BadInput) as e:
        balanced_indices(y, 6, 2, seed=0, what="fashion-mnist (train)")
    bad_input(e, "fashion-mnist (train)", "only 2 samples of class 1", "needs 3")
    with pytest.raises(BadInput) as e:
        balanced_indices(y, 3, 3, seed=0, what="x")  # class 2 absent
    bad_input(e, "only 0 samples of class 2")


def test_load_subset_larger_than_a_class_is_bad_input(tmp_path):
    write_idx_set(tmp_path / "fashion-mnist", n_train=30)  # 3 per class
    with pytest.raises(BadInput) as e:
        load(cfg_of("fashion-mnist", 40, 10), data_dir_override=str(tmp_path))
    bad_input(e, "fashion-mnist (train)", "needs 4")
