"""The wheel, as a user installs it: built from pyproject, installed into a fresh
virtual environment with no checkout on the path, then used.

torch is not installed again (gigabytes): the fresh environment sees the test
environment's site-packages through a plain path line in a .pth file.  A plain
path is added to sys.path without running that folder's own .pth files, so the
checkout's editable finder stays out and `glasslab` can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAPPED = {"api": "glasslab", "core": "glasslab.core", "tui": "glasslab.tui", "presets": "glasslab.presets"}

# Under pytest-xdist (make test) these tests share one worker: the wheel and its environment
# are built once instead of once per worker.
pytestmark = pytest.mark.xdist_group("package")


def packages_in_tree() -> set[str]:
    """Every folder under api/, core/, tui/ and presets/ that holds an __init__.py, as a glasslab. name."""
    out = set()
    for folder, name in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            out.add(".".join((name, *rel)))
    return out


def test_pyproject_lists_every_package_of_the_tree():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert listed == packages_in_tree()


def test_the_package_check_sees_subpackages():
    assert {"glasslab.tui.console.screens", "glasslab.tui.console.widgets"} <= packages_in_tree()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the test environment's setuptools builds it (no download).
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    (whl,) = out.glob("glasslab-*.whl")
    return whl


def test_the_wheel_holds_every_module_style_and_preset(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in MAPPED.items():
        prefix = package.replace(".", "/")
        for f in (ROOT / folder).rglob("*"):
            if f.suffix in (".py", ".tcss", ".toml") and "__pycache__" not in f.parts:
                assert f"{prefix}/{f.relative_to(ROOT / folder).as_posix()}" in names
    assert not any(n.startswith(("api/", "core/", "tui/", "presets/")) for n in names), "top-level core/tui left in"
    assert any(n.endswith(".tcss") for n in names) and any(n.endswith("quickstart.toml") for n in names)
    # The definitions analyze points at (issue 22: docs/science.md was not in the wheel).
    assert "glasslab/tui/science.md" in names
    assert zipfile.ZipFile(wheel).read("glasslab/tui/science.md") == (ROOT / "docs" / "science.md").read_bytes()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_glasslab_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
                          str(wheel)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    return env_dir


def in_env(env_dir: Path, *args, cwd: Path, timeout=300, extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GLASSLAB_PRESETS")} | (extra or {})
    env["PATH"] = f"{env_dir / 'bin'}:{env['PATH']}"
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_installed_glasslab_comes_from_the_wheel(installed, tmp_path):
    res = in_env(installed, installed / "bin" / "python", "-c",
                 "import glasslab.core, glasslab.tui.console.screens, importlib.util as u;"
                 "print(glasslab.core.__file__); print(u.find_spec('core'), u.find_spec('tui'))", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    origin, shadows = res.stdout.splitlines()
    assert origin.startswith(str(installed)) and shadows == "None None"


def test_installed_presets_list_shows_every_shipped_preset(installed, tmp_path):
    res = in_env(installed, installed / "bin" / "glasslab", "presets", "list", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    shipped = {p.stem for p in (ROOT / "presets").glob("*.toml")}
    listed = {name for name in shipped if re.search(rf"\b{re.escape(name)}\b", res.stdout)}
    assert listed == shipped and len(shipped) >= 10


def test_installed_run_trains_headless(installed, tmp_path):
    res = in_env(installed, installed / "bin" / "glasslab", "run", "quickstart", "--no-ui", "--steps", "300",
                 "--out", tmp_path / "runs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    stores = list((tmp_path / "runs").glob("quickstart*.zarr"))
    assert len(stores) == 1 and (stores[0] / "zarr.json").exists()


def test_installed_xarray_engine_opens_a_store(installed, tmp_path):
    """The wheel's entry point (entry_points.txt) registers the engine: xr.open_dataset(engine="glasslab")
    reads a store the installed glasslab wrote, with no checkout on the path."""
    res = in_env(installed, installed / "bin" / "glasslab", "run", "quickstart", "--no-ui", "--steps", "200",
                 "--out", tmp_path / "runs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (store,) = (tmp_path / "runs").glob("quickstart*.zarr")
    script = ("import sys, xarray as xr, glasslab.xarray_backend as b\n"
              "ds = xr.open_dataset(sys.argv[1], engine='glasslab')\n"
              "print(b.__file__); print(ds.attrs['status'], ds.sizes['snapshot'], int(ds.step[-1]))\n")
    res = in_env(installed, installed / "bin" / "python", "-c", script, store, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    origin, opened = res.stdout.splitlines()
    assert origin.startswith(str(installed)) and opened.split()[0] == "finished" and opened.split()[2] == "200"


def test_installed_console_starts(installed, tmp_path):
    script = (
        "import asyncio\n"
        "from glasslab.tui.app import make_app\n"
        "async def main():\n"
        "    app = make_app(out_dir='runs')\n"
        "    async with app.run_test(size=(100, 30)) as pilot:\n"
        "        await pilot.pause()\n"
        "        print(type(app.screen).__name__, len(app.screen.query('*')))\n"
        "asyncio.run(main())\n")
    res = in_env(installed, installed / "bin" / "python", "-c", script, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    screen, widgets = res.stdout.split()
    assert screen == "PresetsScreen" and int(widgets) > 5


def test_the_readme_presets_table_is_every_shipped_preset_and_its_description():
    """The README listed 7 of 16 presets (issue 22): its table is each preset's own `description`."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("| preset | what |", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.*) \|$", table, re.M))
    shipped = {f.stem: tomllib.loads(f.read_text())["description"]
               for f in (Path(__file__).resolve().parents[1] / "presets").glob("*.toml")}
    assert rows == shipped


def test_installed_conventions_version_python_m_and_json(installed, tmp_path):
    """Issue 32: the conventions work from the wheel, not only from a checkout."""
    from importlib.metadata import version

    glasslab = installed / "bin" / "glasslab"
    res = in_env(installed, glasslab, "--version", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == f"glasslab {version('glasslab')}", res.stderr
    res = in_env(installed, installed / "bin" / "python", "-m", "glasslab", "--version", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == f"glasslab {version('glasslab')}", res.stderr
    res = in_env(installed, glasslab, "presets", "list", "--json", cwd=tmp_path)
    assert res.returncode == 0 and "quickstart" in {p["name"] for p in json.loads(res.stdout)["presets"]}
    res = in_env(installed, glasslab, "ps", "--json", tmp_path, cwd=tmp_path)
    assert res.returncode == 0 and json.loads(res.stdout)["runs"] == []


def test_installed_completion_scripts_complete_in_a_real_bash(installed, tmp_path):
    """The script `glasslab --show-completion` prints for each shell; bash sources it and completes
    a preset name and a store path through the installed glasslab."""
    env_switch = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}  # typer's: name the shell
    for shell in ("bash", "zsh", "fish"):
        res = in_env(installed, installed / "bin" / "glasslab", "--show-completion", shell, cwd=tmp_path, extra=env_switch)
        assert res.returncode == 0 and "_GLASSLAB_COMPLETE" in res.stdout, (shell, res.stderr)
        (tmp_path / f"glasslab.{shell}").write_text(res.stdout)
    (tmp_path / "runs" / "quickstart-1.zarr").mkdir(parents=True)
    script = (f"source {tmp_path / 'glasslab.bash'}\n"
              "COMP_WORDS=(glasslab run quicks); COMP_CWORD=2; _glasslab_completion glasslab; echo \"${COMPREPLY[@]}\"\n"
              "COMP_WORDS=(glasslab resume runs/); COMP_CWORD=2; _glasslab_completion glasslab; echo \"${COMPREPLY[@]}\"\n")
    res = in_env(installed, "bash", "--norc", "-c", script, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.splitlines() == ["quickstart", "runs/quickstart-1.zarr"], res.stdout + res.stderr
