"""The command line keeps the ecosystem's conventions (issue 32): --version, python -m glasslab,
help without type tags, every GLASSLAB_* variable and the exit codes in --help and the README,
and shell completion of commands, options, preset names and store/sweep paths."""

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from glasslab.tui.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_version_prints_the_installed_version():
    for flag in ("--version", "-V"):
        res = runner.invoke(app, [flag])
        assert res.exit_code == 0 and res.stdout.strip() == f"glasslab {version('glasslab')}", res.output


def test_a_group_without_its_command_is_one_line():
    for group in ("sweep", "presets"):
        res = runner.invoke(app, [group])
        assert res.exit_code == 2 and res.stderr.strip() == f"glasslab: error: missing command: see glasslab {group} --help"


def test_python_dash_m_glasslab_is_the_command(tmp_path):
    res = subprocess.run([sys.executable, "-m", "glasslab", "presets", "show", "nosuch"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("glasslab: error: unknown preset 'nosuch'"), res.stderr
    res = subprocess.run([sys.executable, "-m", "glasslab", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Usage: glasslab " in res.stdout  # the name a user types, not "python -m"


def _command_paths(cmd, path=()):
    yield path
    for name, sub in getattr(cmd, "commands", {}).items():
        if not sub.hidden:
            yield from _command_paths(sub, (*path, name))


def test_help_has_no_type_tags():
    """typer 0.29 prints `--force <bool>`, `--steps <int>`, `run_dir <path>`; 0.27 `<int>`, `<path>`."""
    paths = list(_command_paths(get_command(app)))
    assert ("sweep",) in paths and ("presets", "list") in paths and len(paths) > 15
    for path in paths:
        res = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert res.exit_code == 0, (path, res.output)
        tags = re.findall(r"<[a-zA-Z_\[\]|, ]+>", res.stdout)
        assert not tags, (path, tags)
        assert not re.search(r"\b[A-Z]+_\b", res.stdout), path  # set_ shown as SET_


def _user_variables() -> set[str]:
    """Every GLASSLAB_* name the code reads, but the test suite's fault hooks."""
    found = set()
    for folder in ("api", "core", "tui"):
        for f in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"GLASSLAB_[A-Z_]+[A-Z]", f.read_text()))
    return {v for v in found if not v.startswith("GLASSLAB_FAULT")}


def test_every_variable_and_exit_code_is_in_help_and_readme():
    names = _user_variables()
    assert {"GLASSLAB_DATA", "GLASSLAB_PRESETS", "GLASSLAB_SWEEPS", "GLASSLAB_OUT", "GLASSLAB_THREADS"} <= names
    text = runner.invoke(app, ["--help"], terminal_width=200).stdout
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert name in text, name
        assert re.search(rf"^\| `{name}` \|", readme, re.M), f"{name} not in README's environment table"
    for code in ("0", "1", "2", "128+N", "130", "143"):
        assert re.search(rf"\b{re.escape(code)}\b", text.split("Exit codes", 1)[1]), code


def complete(words: str, cwd: Path, shell: str = "bash", **env) -> list[str]:
    """What the shell would be offered after `words` (a trailing space: a new word), asked as typer's
    bash / zsh / fish scripts ask it."""
    env = {**os.environ, **env, "_GLASSLAB_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        parts = words.split()
        env |= {"COMP_WORDS": words, "COMP_CWORD": str(len(parts) - (0 if words.endswith(" ") else 1))}
    elif shell == "zsh":
        env["_TYPER_COMPLETE_ARGS"] = words
    else:
        env |= {"_TYPER_COMPLETE_ARGS": words, "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    res = subprocess.run([sys.executable, "-m", "glasslab"], capture_output=True, text=True, cwd=cwd, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


@pytest.fixture
def lab(tmp_path):
    for store in ("runs/quickstart-1.zarr", "runs/quickstart-2.zarr", "elsewhere/mine.zarr"):
        (tmp_path / store).mkdir(parents=True)
    (tmp_path / "sweeps" / "widths").mkdir(parents=True)
    (tmp_path / "sweeps" / "widths" / "sweep.json").write_text("{}")
    return tmp_path


def test_bash_completion_offers_commands_options_presets_and_paths(lab):
    assert {"run", "resume"} <= set(complete("glasslab r", lab)) and "ps" not in complete("glasslab r", lab)
    assert "--steps" in complete("glasslab run --st", lab)
    assert complete("glasslab run quicks", lab) == ["quickstart"]
    assert "kwj24-langevin" in complete("glasslab presets show kwj", lab)
    assert set(complete("glasslab resume ", lab)) >= {"runs/quickstart-1.zarr", "runs/quickstart-2.zarr", "elsewhere/"}
    assert complete("glasslab stop elsewhere/", lab) == ["elsewhere/mine.zarr"]
    assert "sweeps/widths" in complete("glasslab analyze ", lab)
    assert "sweeps/widths" in complete("glasslab sweep status ", lab)
    assert "runs/quickstart-1.zarr" not in complete("glasslab sweep status ", lab)  # a run is not a sweep
    assert "sweeps/widths" not in complete("glasslab resume ", lab)  # a sweep is not a run's store
    assert {"status", "resume", "cancel", "quickstart"} <= set(complete("glasslab sweep ", lab))  # sweep PRESET
    assert "--grid" in complete("glasslab sweep quickstart --gr", lab)
    other = lab / "other"
    other.mkdir()
    (other / "x.zarr").mkdir()
    assert complete("glasslab follow ", lab, GLASSLAB_OUT=str(other)) == sorted(
        [f"{other}/x.zarr", "elsewhere/", "other/", "runs/", "sweeps/"])


def test_zsh_and_fish_completion_offer_the_same(lab):
    assert '"quickstart"' in complete("glasslab run quicks", lab, shell="zsh")[-1]
    assert "quickstart" in complete("glasslab run quicks", lab, shell="fish")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_each_shells_script(shell):
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}  # typer's switch: name the shell
    res = subprocess.run([sys.executable, "-m", "glasslab", "--show-completion", shell], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0 and "_GLASSLAB_COMPLETE" in res.stdout and f"complete_{shell}" in res.stdout
