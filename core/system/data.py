"""Data sets, held whole on the training device as tensors.

Batches are taken by index from these tensors (no DataLoader in the hot loop).
Every set goes through the same steps: read the real files with their real
format, take a class-balanced subset of m samples (seeded by data.seed),
normalise per channel with the training subset's statistics, move to device.

- synthetic: Gaussian inputs labelled by a random teacher network, generated
  from data.seed alone (no files);
- fashion-mnist: the IDX files (gzipped or not) of Debian's dataset-fashion-mnist
  in /usr/share/datasets/fashion-mnist, or under the data directory;
- mnist: the same IDX files (gzipped or not) in torchvision's layout DATA/MNIST/raw
  or in DATA/mnist; torchvision downloads them when asked;
- cifar10, cifar100: torchvision's loaders from the data directory,
  downloading only when asked.

data.binary = "parity" turns any of them into the binary task of [SG19]: after
the class-balanced pick (so both labels are about equally frequent), class c
gets the label y = +1 if c is even, -1 if odd; `classes` is then 2.

data.downsample = k average-pools every image over k x k blocks (before the
normalisation): [C, H, W] -> [C, H/k, W/k].  It lowers the parameters per
hidden unit of a dense first layer (784 + 2 -> 196 + 2 for Fashion-MNIST at
k = 2), which is what lets N/P go below 1 at a fixed P ([SG19]).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from glasslab.core.config.presets import IMAGE_SHAPES, DataConfig
from glasslab.core.errors import BadInput

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SHAPES = IMAGE_SHAPES  # [C, H, W] as stored, before data.downsample
CLASSES = {"fashion-mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100}
CIFAR_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_FILES = {
    "cifar10": ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"],
    "cifar100": ["train", "test", "meta"],
}


@dataclass(frozen=True)
class DataSet:
    name: str
    x_train: torch.Tensor  # float32 [P, *input_shape], on the training device
    y_train: torch.Tensor  # int64 [P]: class indices, or +1/-1 labels of a binary task
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int
    mean: tuple[float, ...]  # per-channel normalisation applied (empty if none)
    std: tuple[float, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def train_size(self) -> int:
        return int(self.x_train.shape[0])


def info(cfg: DataConfig) -> tuple[tuple[int, ...], int]:
    """(input shape after data.downsample, classes) without reading any file."""
    shape = tuple(cfg.shape) if cfg.name == "synthetic" else SHAPES[cfg.name]
    if cfg.downsample > 1:
        c, h, w = shape
        shape = (c, h // cfg.downsample, w // cfg.downsample)
    classes = cfg.classes if cfg.name == "synthetic" else CLASSES[cfg.name]
    return shape, (2 if cfg.binary else classes)


def downsample(x: torch.Tensor, k: int) -> torch.Tensor:
    """Average-pool images [n, C, H, W] over k x k blocks -> [n, C, H/k, W/k] (k must divide H and W)."""
    if k == 1:
        return x
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(dim=(3, 5))


def binary_labels(y: np.ndarray, split: str) -> np.ndarray:
    """Class indices -> labels +1/-1 of a binary task ([SG19]): 'parity' gives +1 to even classes."""
    if split == "parity":
        return np.where(np.asarray(y) % 2 == 0, 1, -1)
    raise ValueError(f"unknown binary split {split!r}")


def data_dir(cfg: DataConfig, override: str | None = None) -> Path:
    return Path(override or cfg.data_dir or os.environ.get("GLASSLAB_DATA", "data"))


def _one_line(err: BaseException) -> str:
    """A library's error text on one line (BadInput messages are one line)."""
    return " ".join(str(err).split())


# ---------------------------------------------------------------- readers

def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST format, gzipped or not) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise BadInput(f"{path} is unreadable or truncated ({_one_line(err)}); re-install or re-download it") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise BadInput(f"{path} is not an IDX file of unsigned bytes (bad magic number); check the file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != header + int(np.prod(dims)):
        raise BadInput(f"{path} is truncated or damaged: its header promises {dims} = {int(np.prod(dims))} bytes of data, "
                       f"the file holds {max(len(raw) - header, 0)}; re-install or re-download it")
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(dims)  # writable, as torch wants


def _find_idx(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def fashion_dirs(root: Path) -> list[Path]:
    return [root / "fashion-mnist", root / "FashionMNIST" / "raw", root, SYSTEM_FASHION]


def mnist_dirs(root: Path) -> list[Path]:
    """Where MNIST's IDX files may lie: torchvision's own layout (MNIST/raw, which keeps the .gz files of
    its download), or a folder of their own."""
    return [root / "MNIST" / "raw", root / "mnist"]


def _idx_files(dirs: list[Path]) -> dict[str, list[Path]] | None:
    """The four IDX files (gzipped or not), all from the first directory that holds all of them.

    The data directory comes before the system one, and files of different
    directories are never mixed (a partial copy in the data directory must not
    be completed silently with files of another release).
    """
    for d in dirs:
        found = {split: [_find_idx([d], s) for s in stems] for split, stems in IDX_FILES.items()}
        if all(p is not None for paths in found.values() for p in paths):
            return found
    return None


def _fashion_files(root: Path) -> dict[str, list[Path]] | None:
    return _idx_files(fashion_dirs(root))


def _read_idx_set(files: dict[str, list[Path]]):
    """(train, test) as ((images [P, 1, 28, 28] uint8, labels [P]), ...) from the four IDX files."""
    arrays = {}
    for split, paths in files.items():
        x, y = (read_idx(p) for p in paths)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise BadInput(f"{paths[0]} and {paths[1]} do not match ({len(x)} images, {len(y)} labels; shapes "
                           f"{x.shape} and {y.shape}); re-install the data set, or delete them and pass --download")
        arrays[split] = (x[:, None], y)
    return arrays["train"], arrays["test"]


def _load_fashion(root: Path, download: bool):
    files = _fashion_files(root)
    if files is None:
        if download:
            return _load_torchvision("fashion-mnist", root, True)
        raise BadInput(
            f"Fashion-MNIST not found in {SYSTEM_FASHION} nor {root}/fashion-mnist (expected "
            f"{', '.join(s + '.gz' for st in IDX_FILES.values() for s in st)}): "
            "apt-get install dataset-fashion-mnist, or pass --download")
    return _read_idx_set(files)


def _load_mnist(root: Path, download: bool):
    """MNIST from its IDX files, read as Fashion-MNIST's are: torchvision's loader wants them unpacked
    and called the .gz files of its own layout "not found" (issue 31 item 13)."""
    files = _idx_files(mnist_dirs(root))
    if files is None:
        return _load_torchvision("mnist", root, download)  # downloads when asked; else one line, not found
    return _read_idx_set(files)


def _torchvision_class(name: str):
    """torchvision's data set class; for CIFAR, integrity means 'files present and parseable'.

    torchvision checks CIFAR files against the md5 of the full release, which
    would refuse any subset or test file written in the same format; the
    download itself is still md5-checked by torchvision.
    """
    import torchvision.datasets as tvd

    if name == "mnist":
        return tvd.MNIST
    if name == "fashion-mnist":
        return tvd.FashionMNIST
    base = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100

    class Cifar(base):
        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / f).is_file() for f, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            import pickle

            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
                data = pickle.load(f, encoding="latin1")
            self.classes = data[self.meta["key"]]

    return Cifar


def expected_location(name: str, root: Path) -> str:
    if name in CIFAR_DIRS:
        return f"{root / CIFAR_DIRS[name]} (expected {', '.join(CIFAR_FILES[name])})"
    raw = root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    return f"{raw} (expected {', '.join(s for st in IDX_FILES.values() for s in st)}, gzipped or not)"


def _torchvision_present(name: str, root: Path) -> bool:
    """Whether the files torchvision's loader reads are all there (no reading)."""
    if name in CIFAR_DIRS:
        return all((root / CIFAR_DIRS[name] / f).is_file() for f in CIFAR_FILES[name])
    raw = root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    return all((raw / s).is_file() for st in IDX_FILES.values() for s in st)


def _load_torchvision(name: str, root: Path, download: bool):
    cls = _torchvision_class(name)
    # Decided before calling the library: its RuntimeError means "not found" as
    # well as "truncated file" (a short IDX fails in tensor.view).
    present = _torchvision_present(name, root)
    if not present and not download:
        raise BadInput(f"{name} not found in {expected_location(name, root)}: pass --download to fetch it, or --data-dir DIR to point at it")
    splits = []
    for train in (True, False):
        try:
            ds = cls(root=str(root), train=train, download=download)
        except Exception as err:  # truncated pickle or IDX: the library raises many kinds
            if not present:
                raise BadInput(f"could not download {name} into {root}: {_one_line(err)}") from None
            raise BadInput(f"{name} files in {expected_location(name, root)} are truncated or not in the expected format "
                           f"({type(err).__name__}: {_one_line(err)}); delete them and pass --download") from None
        x = np.asarray(ds.data)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
        y = np.asarray(ds.targets)
        if len(x) != len(y):
            raise BadInput(f"{name} files in {expected_location(name, root)} do not match ({'train' if train else 'test'}: "
                           f"{len(x)} images, {len(y)} labels); delete them and pass --download")
        splits.append((x, y))
    return splits[0], splits[1]


def _teacher_offsets(w1: torch.Tensor, w2: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    """Per-class offsets b that make argmax(scores - b) about equally likely for every class.

    Centring the scores alone can leave a class with a third of its share (too
    few for the balanced pick, for about one seed in four).  The offsets are
    fitted once per teacher, on a Gaussian sample of their own, by subgradient
    ascent on the dual of the balanced assignment; train and test are then
    labelled by the same function.
    """
    g = torch.Generator().manual_seed(20_011 + cfg.seed)
    d, c = w1.shape[0], cfg.classes
    n = 64 * c + 4096
    scores = torch.cat([torch.tanh(torch.randn(min(8192, n - i), d, generator=g) @ w1) @ w2
                        for i in range(0, n, 8192)])
    b = scores.mean(0)
    step = scores.std().item() * c
    best, best_low = b, -1.0
    for t in range(max(5, min(200, 300_000_000 // (n * c)))):  # bounded work for many classes
        freq = torch.bincount((scores - b).argmax(1), minlength=c).float() / n
        low = freq.min().item() * c  # the rarest class's share, relative to 1 / c
        if low > best_low:
            best, best_low = b, low
        if low >= 0.95:
            break
        b = b + step / (t + 1) ** 0.5 * (freq - 1 / c)
    return best


def _synthetic(cfg: DataConfig):
    """Gaussian inputs labelled by argmax of a random two-layer tanh teacher.

    The teacher's per-class offsets make the classes come out about equally
    often; the class-balanced pick below makes them exact.
    """
    g = torch.Generator().manual_seed(10_007 + cfg.seed)
    d = int(np.prod(cfg.shape))
    w1 = torch.randn(d, cfg.teacher_width, generator=g) / d ** 0.5
    w2 = torch.randn(cfg.teacher_width, cfg.classes, generator=g) / cfg.teacher_width ** 0.5
    b = _teacher_offsets(w1, w2, cfg)
    splits = []
    for size in (cfg.train_size, cfg.test_size):
        pool = 2 * size + 10 * cfg.classes
        x = torch.randn(pool, d, generator=g)
        y = (torch.tanh(x @ w1) @ w2 - b).argmax(1)
        splits.append((x.float().reshape(pool, *cfg.shape).numpy(), y.numpy()))
    return splits[0], splits[1]


def balanced_indices(y: np.ndarray, m: int, classes: int, seed: int, what: str) -> np.ndarray:
    """m indices, m // C per class (the first m % C classes get one more), seeded."""
    rng = np.random.default_rng(seed)
    per = [m // classes + (1 if c < m % classes else 0) for c in range(classes)]
    picked = []
    for c, k in enumerate(per):
        idx = np.flatnonzero(y == c)
        if len(idx) < k:
            raise BadInput(f"{what} has only {len(idx)} samples of class {c}, a balanced subset of {m} needs {k}: lower the size")
        picked.append(rng.permutation(idx)[:k])
    return np.sort(np.concatenate(picked))


def load(cfg: DataConfig, device: torch.device | str = "cpu", *, data_dir_override: str | None = None,
         download: bool = False) -> DataSet:
    """Read, subset, normalise and move a data set to the device."""
    root = data_dir(cfg, data_dir_override)
    if cfg.name == "synthetic":
        train, test = _synthetic(cfg)
    elif cfg.name == "fashion-mnist":
        train, test = _load_fashion(root, download)
    elif cfg.name == "mnist":
        train, test = _load_mnist(root, download)
    else:
        train, test = _load_torchvision(cfg.name, root, download)
    classes = cfg.classes if cfg.name == "synthetic" else CLASSES[cfg.name]
    (xtr, ytr), (xte, yte) = train, test
    if cfg.name == "synthetic" or cfg.train_size:
        keep = balanced_indices(ytr, cfg.train_size, classes, cfg.seed, f"{cfg.name} (train)")
        xtr, ytr = xtr[keep], ytr[keep]
    if cfg.name == "synthetic" or cfg.test_size:
        keep = balanced_indices(yte, cfg.test_size, classes, cfg.seed + 1, f"{cfg.name} (test)")
        xte, yte = xte[keep], yte[keep]

    if cfg.binary:
        ytr, yte, classes = binary_labels(ytr, cfg.binary), binary_labels(yte, cfg.binary), 2
    scale = 255.0 if xtr.dtype == np.uint8 else 1.0
    xtr = torch.from_numpy(np.ascontiguousarray(xtr)).float() / scale
    xte = torch.from_numpy(np.ascontiguousarray(xte)).float() / scale
    xtr, xte = downsample(xtr, cfg.downsample), downsample(xte, cfg.downsample)
    mean, std = (), ()
    if cfg.normalize:
        # Per channel for images [P, C, H, W]; one channel for vectors [P, d].
        dims = [0, *range(2, xtr.dim())] if xtr.dim() >= 3 else list(range(xtr.dim()))
        m = xtr.mean(dim=dims, keepdim=True)
        s = xtr.std(dim=dims, keepdim=True).clamp_min(1e-8)
        xtr, xte = (xtr - m) / s, (xte - m) / s
        mean, std = tuple(m.flatten().tolist()), tuple(s.flatten().tolist())
    to = dict(device=device)
    return DataSet(cfg.name, xtr.to(**to), torch.as_tensor(ytr, dtype=torch.int64).to(**to),
                   xte.to(**to), torch.as_tensor(yte, dtype=torch.int64).to(**to), classes, mean, std)


def availability(cfg: DataConfig, data_dir_override: str | None = None) -> tuple[bool, str]:
    """Whether the data set can be loaded here without a download, and the fix if not (no reading)."""
    root = data_dir(cfg, data_dir_override)
    if cfg.name == "synthetic":
        return True, "generated from the seed"
    if cfg.name == "fashion-mnist":
        ok = _fashion_files(root) is not None
        return ok, "found" if ok else "apt-get install dataset-fashion-mnist, or --download"
    ok = _torchvision_present(cfg.name, root) or (cfg.name == "mnist" and _idx_files(mnist_dirs(root)) is not None)
    return ok, "found" if ok else f"put it in {Path(root).absolute()}, or --download, or --data-dir DIR"
