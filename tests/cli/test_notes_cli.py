"""`glasslab run --tag`, `glasslab note`, `glasslab ps --tag` and analyze's tags and notes, through the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from glasslab.core.store import notes as store_notes
from glasslab.core.store.reader import store_attrs
from glasslab.tui.cli import app

# These tests read the tables' rows as one line each: at a narrow width they come in parts
# (tui/tables.py), so the width is given, not taken from whatever terminal or $COLUMNS runs the suite.
WIDE = {"COLUMNS": "400"}
runner = CliRunner()


def _run(out, *args):
    res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(out), "--steps", "60",
                              "--set", "run.threads=1", *args])
    assert res.exit_code == 0, res.output
    return max(out.glob("*.zarr"), key=lambda p: p.stat().st_mtime_ns)


def test_tags_at_start_notes_after_and_ps_filters_by_tag(tmp_path):
    out = tmp_path / "runs"
    tagged = _run(out, "--tag", "fig2", "--tag", "lr:0.5")
    other = _run(out, "--set", "run.name=other")
    assert store_attrs(tagged)["preset"]["run"]["tags"] == ["fig2", "lr:0.5"]

    res = runner.invoke(app, ["note", str(tagged), "Delta looks diffusive after t_w = 1e3", "--tag", "checked"])
    assert res.exit_code == 0, res.output
    assert "written at step 60" in res.stdout
    [note] = store_notes.notes_of(store_attrs(tagged))
    assert note["text"] == "Delta looks diffusive after t_w = 1e3" and note["tags"] == ["checked"]

    res = runner.invoke(app, ["ps", "--all", str(out), "--tag", "checked"], env=WIDE)
    assert res.exit_code == 0, res.output
    assert str(tagged) in res.stdout and str(other) not in res.stdout
    assert "fig2,lr:0.5,checked" in res.stdout and "Delta looks diffusive" in res.stdout
    res = runner.invoke(app, ["ps", "--all", str(out), "--tag", "fig2", "--tag", "nope"], env=WIDE)
    assert res.exit_code == 0 and "no runs tagged fig2, nope" in res.stdout
    res = runner.invoke(app, ["ps", "--all", str(out)], env=WIDE)
    assert str(tagged) in res.stdout and str(other) in res.stdout

    res = runner.invoke(app, ["analyze", str(tagged), "--json", "--boot", "10"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["tags"] == ["fig2", "lr:0.5", "checked"] and r["notes"][0]["text"] == note["text"]
    res = runner.invoke(app, ["analyze", str(tagged), "--boot", "10"])
    assert "Delta looks diffusive" in res.stdout and "note at step 60" in res.stdout


def test_bad_tags_and_notes_are_one_line_exit_2_and_write_nothing(tmp_path):
    out = tmp_path / "runs"
    res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(out), "--steps", "20", "--tag", "a b"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "is not a tag" in res.stderr
    assert not list(out.glob("*.zarr")) if out.exists() else True
    store = _run(out)
    before = store_attrs(store)
    for args in (["note", str(store)], ["note", str(store), "x", "--tag", "-x"], ["ps", str(out), "--tag", "a/b c"],
                 ["note", str(tmp_path / "nothing.zarr"), "x"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.output, args
    assert store_attrs(store) == before
