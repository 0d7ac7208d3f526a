"""`glasslab ps --json` and `glasslab presets list --json` (issue 32): the fields docs/json.md gives,
the same names as analyze --json where they overlap, and nothing but JSON on stdout."""

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from glasslab.tui.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def documented(section: str) -> set[str]:
    """The field names of one table of docs/json.md."""
    text = (ROOT / "docs" / "json.md").read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return {name for cell in re.findall(r"^\| (`[^|]+) \|", text, re.M) for name in re.findall(r"`([a-z_]+)`", cell)}


def test_presets_list_json_is_every_preset_with_its_documented_fields():
    res = runner.invoke(app, ["presets", "list", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["schema"] == 1
    rows = {r["name"]: r for r in out["presets"]}
    assert set(rows) == {p.stem for p in (ROOT / "presets").glob("*.toml")}
    assert all(set(r) == documented("glasslab presets list --json") for r in rows.values())
    q = rows["quickstart"]
    assert q["dynamics"] in ("sgd", "gd", "langevin") and q["dynamics_settings"].startswith(q["dynamics"])
    assert isinstance(q["n_params"], int) and q["n_params"] > 0 and q["error"] is None


def test_ps_json_has_analyze_names_and_the_documented_fields(tmp_path):
    out = tmp_path / "runs"
    # Its own process, which ends: a run trained inside this one would read `finishing` while it lives.
    res = subprocess.run([sys.executable, "-m", "glasslab", "run", "quickstart", "--no-ui", "--steps", "60",
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    [store] = out.glob("*.zarr")
    res = runner.invoke(app, ["ps", "--all", "--json", str(out)], env={"COLUMNS": "40"})  # no table to squeeze
    assert res.exit_code == 0, res.output
    ps = json.loads(res.stdout)
    assert ps["schema"] == 1 and ps["dirs"] == [str(out)]
    [row] = ps["runs"]
    assert set(row) == documented("glasslab ps --json")
    assert row["status"] == "finished" and row["step"] == row["total_steps"] == 60 and row["device"] == "cpu"
    assert row["gpu"] is None and row["steps_per_s"] is None  # ended: no rate; on the CPU: no GPU
    report = json.loads(runner.invoke(app, ["analyze", str(store), "--json", "--boot", "10"]).stdout)
    for name in ("run", "name", "status", "dynamics"):  # the names both print mean the same
        assert row[name] == report[name], name
    res = runner.invoke(app, ["ps", "--json", str(tmp_path / "none")])
    assert res.exit_code == 0 and json.loads(res.stdout)["runs"] == []  # no "no live runs" line in the JSON
