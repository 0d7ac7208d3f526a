"""Checks shared by the data-loading tests (tests/system/test_data*.py): one-line BadInput, a loaded
subset against the files it came from, per-channel normalisation within float32's worst-case error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glasslab.core.config.presets import DataConfig
from glasslab.core.errors import BadInput
from glasslab.core.system import data

U32 = 2.0 ** -24  # unit roundoff of float32


def gamma(k: int) -> float:
    """Higham's gamma_k = k u / (1 - k u): worst-case relative error of k float32 roundings
    (a sum of k terms in any order, a product of k factors)."""
    return k * U32 / (1 - k * U32)



def bad_input(excinfo, *fragments: str) -> str:
    """The error is BadInput (exit code 2), one line, and names every fragment."""
    err = excinfo.value
    assert type(err) is BadInput and err.exit_code == 2
    msg = str(err)
    assert msg and "\n" not in msg and "\r" not in msg, msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


def match_rows(loaded: torch.Tensor, file_rows: np.ndarray) -> np.ndarray:
    """For each loaded image (values byte/255), the index of the identical image in the file."""
    where = {row.tobytes(): i for i, row in enumerate(file_rows.reshape(len(file_rows), -1))}
    back = torch.round(loaded.double() * 255).to(torch.uint8).reshape(len(loaded), -1).numpy()
    idx = np.array([where.get(row.tobytes(), -1) for row in back])
    assert (idx >= 0).all(), "a loaded image is in none of the files"
    return idx


def check_subset(ds_x: torch.Tensor, ds_y: torch.Tensor, file_x: np.ndarray, file_y: np.ndarray,
                 size: int, classes: int) -> np.ndarray:
    """A class-balanced subset of distinct file samples, pixels exactly byte/255, labels of the file."""
    assert ds_x.dtype == torch.float32 and ds_y.dtype == torch.int64
    assert len(ds_x) == len(ds_y) == size
    idx = match_rows(ds_x, file_x)
    assert len(set(idx.tolist())) == size
    expect = torch.from_numpy(np.ascontiguousarray(file_x[idx])).float() / 255
    assert torch.equal(ds_x, expect.reshape(ds_x.shape))
    assert np.array_equal(ds_y.numpy(), file_y[idx].astype(np.int64))
    per = [size // classes + (1 if c < size % classes else 0) for c in range(classes)]
    assert np.bincount(ds_y.numpy(), minlength=classes).tolist() == per
    return idx


def channel_view(x: torch.Tensor) -> torch.Tensor:
    """[channels, values]: per channel for images [P, C, ...], one channel for vectors [P, d]."""
    if x.dim() >= 3:
        return x.transpose(0, 1).reshape(x.shape[1], -1)
    return x.reshape(1, -1)


def check_normalised(ds, raw) -> None:
    """ds = raw normalised per channel with the training subset's mean and (unbiased) std.

    Bounds are the worst-case float32 errors: the mean and the variance are sums
    of n float32 terms (error <= gamma_n times the sum of magnitudes), the
    normalisation is one subtraction and one division per value, and the
    variance of data with mean mu carries the condition factor 1 + mu^2 / var.
    """
    x, z = channel_view(raw.x_train.double()), channel_view(ds.x_train.double())
    channels, n = x.shape
    assert len(ds.mean) == len(ds.std) == channels and raw.mean == raw.std == ()
    for c in range(channels):
        xc, zc, s = x[c], z[c], ds.std[c]
        true_mean, true_std = xc.mean().item(), xc.std().item()
        cond = 1 + (xc ** 2).mean().item() / true_std ** 2
        # the statistics stored are those of the training subset
        assert abs(ds.mean[c] - true_mean) <= gamma(n + 2) * xc.abs().mean().item()
        assert abs(s / true_std - 1) <= gamma(n + 6) * cond
        # and the training subset comes out with mean 0, std 1
        assert abs(zc.mean().item()) <= gamma(n + 2) * xc.abs().mean().item() / s + gamma(2) * zc.abs().mean().item()
        assert abs(zc.std().item() - 1) <= gamma(n + 8) * cond
    # the test set is normalised with the training statistics, by the same float32 operations
    shape = [1, channels] + [1] * (raw.x_train.dim() - 2) if raw.x_train.dim() >= 3 else [1, 1]
    m = torch.tensor(ds.mean, dtype=torch.float32).reshape(shape)
    s = torch.tensor(ds.std, dtype=torch.float32).reshape(shape)
    assert torch.equal(ds.x_test, (raw.x_test - m) / s)
    assert torch.equal(ds.x_train, (raw.x_train - m) / s)


def cfg_of(name: str, train: int, test: int, **kw) -> DataConfig:
    return DataConfig(name=name, train_size=train, test_size=test, **kw)


@pytest.fixture
def no_system_fashion(monkeypatch, tmp_path):
    """The system Fashion-MNIST moved out of reach (a directory that does not exist)."""
    monkeypatch.setattr(data, "SYSTEM_FASHION", tmp_path / "no-system-fashion")
