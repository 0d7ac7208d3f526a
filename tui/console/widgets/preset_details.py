"""PresetDetails: one preset resolved (every field), its N, P and N/P, dynamics, and whether its data is here."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from glasslab.core.config import dynamics
from glasslab.core.config.presets import Preset
from glasslab.core.runs import catalog
from glasslab.core.system import data as datasets


def parametrisation(n: int, p: int, classes: int) -> Text:
    """N/P, and over/under by N against the P*C constraints of C outputs per sample ([BJ18], [SG19])."""
    t = Text()
    if not p:
        return t.append("P unknown")
    constraints = p * classes
    t.append(f"N/P = {n / p:.3g}   N/(P·C) = {n / constraints:.3g}: ")
    if n >= constraints:
        t.append("over-parametrised", "bold green")
        t.append(f" (N ≥ P·C = {constraints:,} constraints)")
    else:
        t.append("under-parametrised", "bold yellow")
        t.append(f" (N < P·C = {constraints:,} constraints)")
    return t


def applies(section: str, key: str, preset: Preset) -> bool:
    """Whether a resolved field means anything for this preset (width for ResNet-18, stiffness outside
    the harmonic model, classes for CIFAR-100 ... do not, and shown they mislead)."""
    if section == "dynamics":
        return dynamics.applies(preset.dynamics, key)
    model, data = preset.model.kind, preset.data.name
    only = {
        ("model", "width"): model in ("toy", "fc", "harmonic"),
        ("model", "depth"): model == "fc",
        ("model", "norm"): model == "resnet18",
        ("model", "stiffness"): model == "harmonic",
        ("model", "init_std"): model == "harmonic",
        ("data", "shape"): data == "synthetic",
        ("data", "classes"): data == "synthetic",
        ("data", "teacher_width"): data == "synthetic",
        ("run", "tags"): bool(preset.run.tags),  # labels of a run, not of the physics: shown when set
    }
    return only.get((section, key), True)


def resolved_lines(preset: Preset) -> Text:
    """catalog.to_toml (what `glasslab presets show` prints, comments dimmed) without the fields that
    do not apply to this preset."""
    out, section = Text(), ""
    for line in catalog.to_toml(preset).splitlines()[1:]:  # the first is a title comment
        if line.startswith("description ="):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        key = line.split(" = ", 1)[0].strip()
        if " = " in line and not applies(section, key, preset):
            continue
        value, _, comment = line.partition("  # ")
        out.append(value, "bold" if line.startswith("[") else "")
        if comment:
            out.append(f"  # {comment}", "dim")
        out.append("\n")
    out.rstrip()
    return out


class PresetDetails(VerticalScroll):
    def compose(self):
        yield Static("", id="preset-details-text")

    def show_nothing(self, why: str) -> None:
        """No preset to show (the filter matches none): say so, and how to get the list back."""
        self.query_one(Static).update(Text.assemble((why, "bold"), "\n\nesc clears the filter"))

    def show(self, name: str, path: str, preset: Preset | None, summary, error: str = "") -> None:
        if preset is None and not error:
            raise ValueError(f"show({name!r}) needs a preset or the reason it does not load")
        head = Text(name, style="bold")
        body: list = [head]
        if preset is not None and preset.description:
            body.append(Text(preset.description))
        body.append(Text(path, style="dim"))
        if error:
            body.append(Text(f"\nThis preset does not load: {error}", style="bold red"))
            self.query_one(Static).update(Group(*body))
            return
        body.append(Text(""))
        if summary is None:
            body.append(Text("counting parameters ...", style="dim"))
        else:
            _, classes = datasets.info(preset.data)
            body.append(Text(f"N = {summary.n_params:,} parameters   P = {summary.train_size:,} training samples   C = {classes}"))
            body.append(parametrisation(summary.n_params, summary.train_size, classes))
            body.append(Text(f"model {summary.model}   dynamics {summary.dynamics}   {preset.run.steps:,} steps"))
            data = Text(f"data {summary.data}: ")
            if summary.data_ok:
                data.append("available here", "green")
                data.append(f" ({summary.data_fix})")
            else:
                data.append("missing", "bold red")
                data.append(f": {summary.data_fix}")
            body.append(data)
        body.append(Text(""))
        for line in resolved_lines(preset).split("\n"):  # one row per field: a long comment is cut, not wrapped
            line.no_wrap, line.overflow = True, "ellipsis"
            body.append(line)
        self.query_one(Static).update(Group(*body))
