"""Small presets that train in well under a second."""

from __future__ import annotations

from pathlib import Path

from glasslab.core.config import presets


def tiny_preset(**over) -> presets.Preset:
    """A toy model on a small synthetic task: ~200 steps take well under a second."""
    base = {
        "model.kind": "toy", "model.width": 16,
        "data.name": "synthetic", "data.shape": [8], "data.classes": 4,
        "data.train_size": 200, "data.test_size": 100,
        "dynamics.kind": "sgd", "dynamics.lr": 0.5, "dynamics.batch_size": 20, "dynamics.momentum": 0.5,
        "recording.snapshots": 20, "recording.first": 5, "recording.log_every": 5,
        "run.steps": 200, "run.device": "cpu",
    }
    base.update(over)
    return presets.with_overrides(presets.Preset(name="tiny"), base)


TINY_TOML = """
[model]
kind = "toy"
width = 16
[data]
name = "synthetic"
shape = [16]
classes = 4
train_size = 200
test_size = 100
[dynamics]
kind = "sgd"
lr = 0.3
batch_size = 20
[recording]
snapshots = 30
first = 5
log_every = 5
[run]
steps = {steps}
device = "cpu"
threads = 1
"""


def tiny_toml(folder: Path, steps: int) -> Path:
    """A TOML file of a toy preset (for the CLI in a subprocess); 1 thread, so a test shares the CPUs."""
    f = folder / "tiny.toml"
    f.write_text(TINY_TOML.format(steps=steps))
    return f
