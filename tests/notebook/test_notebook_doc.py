"""docs/notebook.md runs: every ```python block of the page, in order, in one namespace, on real
stores laid out as the page's commands lay them out (smaller: tiny presets, fewer steps)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.sweep import grid, manifest
from glasslab.core.sweep.points import create
from glasslab.core.train.run import Run, drive

from support.presets import tiny_preset
from support.sweep import reference, write_preset

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "notebook.md"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_page_has_the_session_the_issue_asks_for():
    code = "\n".join(snippets())
    for call in ("glasslab.open(", "glasslab.lagged(", "glasslab.open_sweep(", "glasslab.analyze(", 'mean("seed")',
                 "fill_between"):
        assert call in code, call


def test_every_python_snippet_of_the_notebook_page_runs(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    runs = tmp_path / "runs"
    # Two runs of different lengths (issue 30, item 4): their snapshot grids differ, so a t_w of one
    # is no snapshot of the other and "compare two runs" must not select it exactly (KeyError).
    for i, (lr, steps) in enumerate(((0.5, 300), (0.02, 1000))):
        drive(Run(tiny_preset(**{"run.steps": steps, "dynamics.lr": lr})),
              [TrajectoryWriter(runs / f"quickstart-20250101-00000{i}.zarr")])
    preset = write_preset(tmp_path, **{"run.steps": 200})
    plan = grid.plan(str(preset), ["model.width=8,4", "run.seed=0:2"])
    d = create(plan, tmp_path / "sweeps" / "width", {"kind": "local", "parallel": 1, "threads": 1})
    for p in manifest.read(d)["points"]:
        reference(preset, p["overrides"], d / p["store"])
        manifest.set_point(d, p["id"], state="finished")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    blocks = snippets()
    assert len(blocks) >= 4
    for k, code in enumerate(blocks):
        try:
            exec(compile(code, f"docs/notebook.md python block {k + 1}", "exec"), namespace)
        except Exception as err:  # name the block that failed
            pytest.fail(f"docs/notebook.md python block {k + 1} failed: {type(err).__name__}: {err}")
    for png in ("delta.png", "compare.png", "sweep.png"):
        assert (tmp_path / png).stat().st_size > 10_000, png
