"""The glasslab command line: a real headless run, presets, and bad input as one line + exit 2."""

import subprocess
import sys
from pathlib import Path

import torch
from typer.testing import CliRunner

from glasslab.core.store import reader
from glasslab.tui.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _runs(out: Path) -> list[Path]:
    return sorted(out.glob("*.zarr")) if out.exists() else []


def test_headless_quickstart_writes_a_finished_store(tmp_path):
    out = tmp_path / "runs"
    res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(out), "--steps", "400"])
    assert res.exit_code == 0, res.output
    [path] = _runs(out)
    assert path.name.startswith("quickstart-") and path.name.endswith(".zarr")
    t = reader.Trajectory.open(path)
    assert t.status == "finished" and t.n_snapshots == len(t.attrs["snapshot_grid"])
    assert t.attrs["preset"]["run"]["steps"] == 400  # the override is what the store records
    assert "finished" in res.stdout and "snapshots written" in res.stdout and str(path) in res.stdout
    assert "step 400/400" in res.stdout  # plain progress lines when stdout is not a terminal


def test_set_overrides_reach_the_run(tmp_path):
    out = tmp_path / "runs"
    res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(out), "--steps", "50",
                              "--set", "dynamics.kind=gd", "--set", "dynamics.lr=0.2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    p = reader.Trajectory.open(_runs(out)[0]).preset
    assert p["dynamics"]["kind"] == "gd" and p["dynamics"]["lr"] == 0.2 and p["run"]["device"] == "cpu"


def _bad_cases(tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[model\n")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[dynamics]\nlearning_rate = 0.1\n")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["run", "nosuchpreset"], "unknown preset 'nosuchpreset'"),
        (["run", str(bad_toml)], "is not valid TOML"),
        (["run", str(unknown)], "unknown key 'learning_rate'"),
        (["run", "quickstart", "--set", "dynamics.lr=fast"], "dynamics.lr must be a number"),
        (["run", "quickstart", "--set", "dynamics.lr=-1"], "dynamics.lr must be > 0"),
        (["run", "quickstart", "--set", "dynamics.batch_size=5000"], "larger than the training set"),
        (["run", "quickstart", "--device", "gpu"], "--device 'gpu' is not known"),
        (["run", "quickstart", "--out", str(a_file)], "is a file, not a directory"),
        (["run", "quickstart", "--out", str(a_file / "sub")], "cannot create the output directory"),
        (["run", "bj18-smallnet-cifar10", "--data-dir", str(tmp_path / "nodata")], "pass --download"),
        (["run", str(tmp_path)], "is a directory"),
    ]
    if not torch.cuda.is_available():
        cases.append((["run", "quickstart", "--device", "cuda"], "no CUDA GPU"))
    return cases


def test_bad_input_is_one_line_exit_2_and_no_run_directory(tmp_path):
    out = tmp_path / "runs"
    for args, message in _bad_cases(tmp_path):
        res = runner.invoke(app, [*args, "--no-ui", *([] if "--out" in args else ["--out", str(out)])])
        assert res.exit_code == 2, (args, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, res.stderr)
        assert "Traceback" not in res.output
        assert _runs(out) == [], args


def test_divergence_exits_1_and_keeps_the_store(tmp_path):
    out = tmp_path / "runs"
    res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(out), "--steps", "300",
                              "--set", "model.width=64", "--set", "dynamics.lr=1e7", "--set", "dynamics.momentum=0.9",
                              "--set", "model.kind=fc"])
    assert res.exit_code == 1, res.output
    assert "diverged" in res.stderr and "smaller learning rate" in res.stderr
    t = reader.Trajectory.open(_runs(out)[0])
    assert t.status == "diverged" and t.n_snapshots >= 1


def test_presets_list_and_show():
    res = runner.invoke(app, ["presets", "list"], env={"COLUMNS": "160"})
    assert res.exit_code == 0
    for name in ("quickstart", "bj18-resnet18-cifar100", "fmnist-toy-over"):
        assert name in res.stdout
    assert "19,210" in res.stdout  # quickstart's N
    res = runner.invoke(app, ["presets", "show", "quickstart"])
    assert res.exit_code == 0 and 'kind = "toy"' in res.stdout and "width = 256" in res.stdout
    res = runner.invoke(app, ["presets", "show", "nope"])
    assert res.exit_code == 2 and "unknown preset" in res.stderr


def test_headless_run_never_imports_textual(tmp_path):
    code = (
        "import sys; from glasslab.tui.cli import app\n"
        f"try:\n    app(['run', 'quickstart', '--no-ui', '--steps', '20', '--out', {str(tmp_path)!r}])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('TEXTUAL' if any(m.split('.')[0] == 'textual' for m in sys.modules) else 'CLEAN')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("CLEAN")


def test_out_of_memory_is_one_line_naming_the_model_and_what_to_lower(tmp_path, monkeypatch):
    from glasslab.core.system import dynamics

    def oom(self):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.50 GiB (GPU 0; 80 GiB total)")

    monkeypatch.setattr(dynamics.Trainer, "step", oom)
    res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(tmp_path), "--steps", "100"])
    assert res.exit_code == 1
    [line] = [l for l in res.stderr.splitlines() if "out of memory" in l]
    assert "model toy" in line and "19,210" in line and "batch size 100" in line and "2.50 GiB" in line
    assert "lower dynamics.batch_size" in line
    t = reader.Trajectory.open(_runs(tmp_path)[0])
    assert t.status == "interrupted" and t.n_snapshots == 1  # the t = 0 snapshot is kept


USAGE_ERRORS = [
    (["--foo"], "glasslab: error: no such option --foo: see glasslab --help"),
    (["run", "--foo"], "glasslab: error: no such option --foo (Possible options: --out): see glasslab run --help"),
    (["run"], "glasslab: error: missing argument 'preset': see glasslab run --help"),
    (["nosuch"], "glasslab: error: no such command 'nosuch': see glasslab --help"),
]


def test_a_usage_error_is_one_line_exit_2_in_cli_runner():
    """Issue 22: a wrong option gave Click's usage box (four lines and a frame); now one line."""
    for args, line in USAGE_ERRORS:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.strip().splitlines() == [line], (args, res.stderr)
        assert res.stdout == "", (args, res.stdout)


def test_a_usage_error_is_one_line_exit_2_in_a_real_process():
    script = Path(sys.executable).with_name("glasslab")  # the installed command, as a user types it
    command = [str(script)] if script.exists() else [sys.executable, "-m", "glasslab.tui.cli"]
    for args, line in USAGE_ERRORS[:2]:
        res = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and res.stderr.strip().splitlines() == [line] and res.stdout == "", res
    res = subprocess.run([*command, "run", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Usage: " in res.stdout and res.stderr == ""  # --help is not an error


def test_analyze_points_at_the_definitions_where_they_are_installed(tmp_path):
    """Issue 22: analyze (and help) pointed at docs/science.md, which a wheel does not install.  The
    file ships in the package now and analyze prints its path; it is the checkout's docs/science.md
    (tests/test_package.py checks that the wheel holds it)."""
    from support.console import synthetic_records, write_store

    store = write_store(tmp_path / "a.zarr", synthetic_records("toy-over"))
    res = runner.invoke(app, ["analyze", str(store), "--boot", "10"])
    assert res.exit_code == 0, res.output + res.stderr
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("what every number means: ")
    doc = Path(last.split(": ", 1)[1])
    assert doc.is_file() and doc.name == "science.md"
    assert doc.read_text() == (Path(__file__).resolve().parents[2] / "docs" / "science.md").read_text()
    # Issue 31 item 14: one closing line for the definitions, not a second naming docs/science.md, a path
    # relative to a checkout that does not exist where glasslab is installed.
    assert [line for line in res.stdout.splitlines() if "science.md" in line] == [last]
