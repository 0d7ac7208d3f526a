"""data.downsample: k x k average pooling of the images before normalisation (issue 15, N/P below 1)."""

from __future__ import annotations

import pytest
import torch

from glasslab.core.config import presets
from glasslab.core.config.presets import DataConfig
from glasslab.core.errors import BadInput
from glasslab.core.system import data
from glasslab.core.system.data import info, load
from glasslab.core.system.models import count_params

from support.data_files import write_idx_set


def test_pooling_averages_each_block_by_a_loop():
    x = torch.randn(3, 2, 6, 4, generator=torch.Generator().manual_seed(0))
    y = data.downsample(x, 2)
    assert y.shape == (3, 2, 3, 2)
    for n in range(3):
        for c in range(2):
            for i in range(3):
                for j in range(2):
                    block = x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                    assert torch.allclose(y[n, c, i, j], block.mean(), atol=1e-6)
    assert data.downsample(x, 1) is x


def test_fashion_files_are_pooled_before_normalisation(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_FASHION", tmp_path / "none")
    write_idx_set(tmp_path / "fashion-mnist", n_train=30, n_test=20)
    cfg = DataConfig(name="fashion-mnist", train_size=20, test_size=10, normalize=False)
    full = load(cfg, data_dir_override=str(tmp_path))
    pooled = load(DataConfig(**{**cfg.__dict__, "downsample": 4}), data_dir_override=str(tmp_path))
    assert pooled.input_shape == (1, 7, 7) == info(DataConfig(name="fashion-mnist", downsample=4))[0]
    assert torch.allclose(pooled.x_train, torch.nn.functional.avg_pool2d(full.x_train, 4), atol=1e-6)
    assert torch.equal(pooled.y_train, full.y_train)
    normed = load(DataConfig(**{**cfg.__dict__, "downsample": 4, "normalize": True}), data_dir_override=str(tmp_path))
    assert abs(normed.x_train.mean().item()) < 1e-5 and abs(normed.x_train.std().item() - 1) < 1e-3


def test_parameter_count_follows_the_pooled_inputs():
    """The toy net's N on 14 x 14 parity inputs: 196 + 2 per hidden unit, + 1 (issue 15's N/P = 0.1 at P = 2,000)."""
    p = presets.with_overrides(presets.Preset(name="t"), {
        "model.kind": "toy", "model.width": 1, "model.loss": "hinge2", "data.name": "fashion-mnist",
        "data.binary": "parity", "data.downsample": 2, "data.train_size": 2000})
    shape, classes = info(p.data)
    assert shape == (1, 14, 14) and classes == 2
    assert count_params(p.model, shape, classes) == 199


@pytest.mark.parametrize("over, fragment", [
    ({"data.name": "fashion-mnist", "data.downsample": 3}, "does not divide the 28x28 images"),
    ({"data.name": "synthetic", "data.shape": [32], "data.downsample": 2}, "needs image inputs"),
    ({"data.name": "synthetic", "data.shape": [1, 8, 8], "data.downsample": 3}, "does not divide the 8x8"),
])
def test_bad_factors_are_one_line(over, fragment):
    with pytest.raises(BadInput) as err:
        presets.check(presets.with_overrides(presets.Preset(name="t"), over))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_zero_factor_is_refused_by_the_range_check():
    with pytest.raises(BadInput):
        presets.with_overrides(presets.Preset(name="t"), {"data.downsample": 0})
