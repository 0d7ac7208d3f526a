"""What the preset browser and `glasslab presets` show: summaries and resolved TOML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import data as datasets
from . import models, presets
from .errors import BadInput


@dataclass(frozen=True)
class PresetSummary:
    name: str
    path: str
    description: str
    model: str
    data: str
    dynamics: str
    n_params: int
    train_size: int
    data_ok: bool
    data_fix: str
    error: str = ""  # set when the file itself is malformed

    @property
    def ratio(self) -> float:
        """N / P: above 1 over-parametrised in the loose sense ([SG19] place the transition by N_Delta)."""
        return self.n_params / self.train_size if self.train_size else float("nan")


def model_text(m: presets.ModelConfig) -> str:
    if m.kind == "toy":
        return f"toy w{m.width}"
    if m.kind == "fc":
        return f"fc {m.depth}x{m.width}"
    if m.kind == "resnet18":
        return f"resnet18 {m.norm}"
    if m.kind == "harmonic":
        return f"harmonic k{m.stiffness:g}"
    return m.kind


def dynamics_text(d: presets.DynamicsConfig) -> str:
    if d.kind == "sgd":
        return f"sgd {d.lr:g}/{d.batch_size}" + (f" m{d.momentum:g}" if d.momentum else "")
    if d.kind == "langevin":
        return f"langevin {d.lr:g} T{d.temperature:g}"
    return f"gd {d.lr:g}"


def summarize(p: presets.Preset, path: str = "") -> PresetSummary:
    shape, classes = datasets.info(p.data)
    n = models.count_params(p.model, shape, classes)
    train = p.data.train_size or presets.FULL_TRAIN_SIZE.get(p.data.name, 0)
    ok, fix = datasets.availability(p.data)
    return PresetSummary(p.name, path, p.description, model_text(p.model), p.data.name,
                         dynamics_text(p.dynamics), n, train, ok, fix)


def summaries() -> list[PresetSummary]:
    out = []
    for name, path in presets.available().items():
        try:
            out.append(summarize(presets.load(str(path)), str(path)))
        except BadInput as err:
            out.append(PresetSummary(name, str(path), "", "?", "?", "?", 0, 0, False, "fix the file", str(err)))
    return out


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def to_toml(p: presets.Preset) -> str:
    """The resolved preset as TOML, every field with its help as a comment (loads back to the same preset)."""
    lines = [f"# {p.name}: resolved preset"]
    if p.description:
        lines.append(f"description = {_toml_value(p.description)}")
    for section in presets.SECTIONS:
        cfg = getattr(p, section)
        lines.append(f"\n[{section}]")
        for f in dataclasses.fields(cfg):
            lines.append(f"{f.name} = {_toml_value(getattr(cfg, f.name))}  # {f.metadata['help']}")
    return "\n".join(lines) + "\n"
