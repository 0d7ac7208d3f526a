""".ci/floors.py, what make test-floors installs (issue 32): the floor of every runtime dependency
and of the notebook and plot extras, read from pyproject.toml; a dependency without a floor refused."""

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("floors", ROOT / ".ci" / "floors.py")
floors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(floors)


def _name(spec: str) -> str:
    return spec.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()


def test_every_runtime_and_extra_dependency_is_pinned_to_its_floor():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(s) for s in [*meta["dependencies"], *meta["optional-dependencies"]["notebook"],
                                 *meta["optional-dependencies"]["plot"]]}
    pinned = floors.floors(ROOT / "pyproject.toml")
    assert set(pinned) == wanted
    assert {"typer", "rich", "xarray", "matplotlib", "textual-plotext", "plotext", "filelock", "submitit",
            "tomlkit"} <= set(pinned)
    # The floors issue 32 found wrong, raised:
    assert pinned["typer"] == "0.27.2" and pinned["xarray"] == "2024.10" and pinned["textual-plotext"] == "1.0.1"
    assert tuple(int(x) for x in pinned["rich"].split(".")) >= (13, 8)


def test_a_dependency_without_a_floor_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["numpy>=1.26", "rich"]\n[project.optional-dependencies]\nnotebook = []\nplot = []\n')
    with pytest.raises(SystemExit, match="no '>=' floor for rich"):
        floors.floors(tmp_path / "pyproject.toml")


def test_the_check_reads_a_release_as_its_floor():
    assert floors.same("2.5.0+cu124", "2.5") and floors.same("2024.10.0", "2024.10") and floors.same("0.27.2", "0.27.2")
    assert not floors.same("2.5.1", "2.5") and not floors.same("0.27.3", "0.27.2")
