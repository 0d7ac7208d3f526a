"""A store's dynamics switches, read in one place (core/store/codec.py, issue 28 item 2).

The writer stores a DynamicsChanged as a `dynamics_changed` event with both settings whole;
every reader (resume, branch, follow, ps, analyze, the console, the figures) gets them back
through codec.switches / switches_before / dynamics_after as typed records.  The last test
keeps it so: no module outside core/store/ spells the event's kind.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.errors import BadInput
from glasslab.core.records import DynamicsChanged
from glasslab.core.store import codec

ROOT = Path(__file__).resolve().parents[2]
SGD = DynamicsConfig(kind="sgd", lr=0.1, batch_size=50, momentum=0.5)
HOT = dataclasses.replace(SGD, kind="langevin", momentum=0.0, temperature=1e-4)
GD = dataclasses.replace(SGD, kind="gd")


def stored(*records) -> list[dict]:
    """The events a store holds for these records (JSON, as the attributes are)."""
    return json.loads(json.dumps([{"step": 0, "kind": "started"}, *map(codec.to_event, records),
                                  {"step": 900, "kind": "interrupted", "reason": "stopped"}]))


def test_the_switches_come_back_typed_and_in_order():
    events = stored(DynamicsChanged(100, SGD, HOT), DynamicsChanged(300, HOT, GD))
    back = codec.switches(events)
    assert back == [DynamicsChanged(100, SGD, HOT), DynamicsChanged(300, HOT, GD)]
    assert isinstance(back[0].new, DynamicsConfig) and back[0].new.temperature == 1e-4


def test_the_switches_before_a_step_leave_out_those_of_the_step_itself():
    events = stored(DynamicsChanged(100, SGD, HOT), DynamicsChanged(300, HOT, GD))
    assert [r.step for r in codec.switches_before(events, 300)] == [100]  # a state saved at 300 holds one
    assert [r.step for r in codec.switches_before(events, 301)] == [100, 300]
    assert codec.switches_before(events, 100) == []


def test_the_dynamics_after_a_step_is_the_last_switch_at_or_before_it():
    events = stored(DynamicsChanged(100, SGD, HOT), DynamicsChanged(300, HOT, GD))
    assert codec.dynamics_after(events, 99) is None  # the preset's own
    assert codec.dynamics_after(events, 100) == HOT
    assert codec.dynamics_after(events, 299) == HOT
    assert codec.dynamics_after(events, 300) == GD
    assert codec.dynamics_after([], 10**6) is None


def test_a_field_the_store_lacks_reads_as_its_default_and_an_unknown_one_is_refused():
    older = {"step": 5, "kind": "dynamics_changed", "old": {"kind": "sgd", "lr": 0.2}, "new": {"kind": "gd", "lr": 0.2}}
    [r] = codec.switches([older])  # written before gd_chunk, weight_decay ... existed
    assert r.new == DynamicsConfig(kind="gd", lr=0.2)
    newer = {**older, "new": {"kind": "gd", "lr": 0.2, "friction": 0.5}}
    with pytest.raises(BadInput, match=r"does not know \(friction\).*newer glasslab"):
        codec.switches([newer])


def _kind_literals(path: Path) -> list[int]:
    """Lines of `path` whose code (not a docstring or comment) spells the string "dynamics_changed"."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docstrings
            and isinstance(n.value, str) and "dynamics_changed" in n.value]


def test_no_module_outside_the_store_decodes_a_switch_event_by_hand():
    paths = [p for d in ("core", "tui", "api") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(paths) > 50
    hand = [f"{p.relative_to(ROOT)}:{line}" for p in paths if "store" not in p.relative_to(ROOT).parts[:2]
            for line in _kind_literals(p)]
    assert hand == [], "read the switches through core/store/codec.py (switches, switches_before, dynamics_after)"
    assert _kind_literals(ROOT / "core" / "store" / "codec.py")  # the check sees the one place that spells it


def test_the_check_finds_a_hand_decoding(tmp_path):
    planted = tmp_path / "live.py"
    planted.write_text('"""Mentions dynamics_changed in its docstring: fine."""\n'
                       'def last(attrs):\n    return [e for e in attrs["events"] if e.get("kind") == "dynamics_changed"]\n')
    assert _kind_literals(planted) == [3]
