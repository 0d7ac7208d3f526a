"""What the preset browser and `glasslab presets` show: summaries and resolved TOML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import tomlkit
from tomlkit.items import Item

from glasslab.core.config import dynamics, presets
from glasslab.core.errors import BadInput
from glasslab.core.system import data as datasets
from glasslab.core.system import models


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


def summarize(p: presets.Preset, path: str = "") -> PresetSummary:
    shape, classes = datasets.info(p.data)
    n = models.count_params(p.model, shape, classes)
    train = p.data.train_size or presets.FULL_TRAIN_SIZE.get(p.data.name, 0)
    ok, fix = datasets.availability(p.data)
    return PresetSummary(p.name, path, p.description, model_text(p.model), p.data.name,
                         dynamics.describe(p.dynamics, "compact"), n, train, ok, fix)


def summaries() -> list[PresetSummary]:
    out = []
    for name, path in presets.available().items():
        try:
            out.append(summarize(presets.load(str(path)), str(path)))
        except BadInput as err:
            out.append(PresetSummary(name, str(path), "", "?", "?", "?", 0, 0, False, "fix the file", str(err)))
    return out


def _commented(value, help: str) -> Item:
    """One field's value with its help as a trailing `  # help` comment (two spaces, as PEP 8 and the
    preset browser's parser in tui/console/widgets/preset_details.py expect)."""
    item = tomlkit.item(value)
    item.comment(help)
    item.trivia.comment_ws = "  "
    return item


def to_toml(p: presets.Preset) -> str:
    """The resolved preset as TOML, every field with its help as a comment (loads back to the same preset).

    tomlkit does the quoting, so any string (quotes, backslashes, newlines), float (1e-05, inf) and list
    comes out as valid TOML.
    """
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"{p.name}: resolved preset"))
    if p.description:
        doc.add("description", p.description)
    for section in presets.SECTIONS:
        cfg = getattr(p, section)
        table = tomlkit.table()
        for f in dataclasses.fields(cfg):
            table.add(f.name, _commented(getattr(cfg, f.name), f.metadata["help"]))
        doc.add(section, table)
    return tomlkit.dumps(doc)
