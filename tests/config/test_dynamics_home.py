"""core/config/dynamics.py: what a dynamics is, said once (issue 28, item 1)."""

from __future__ import annotations

import ast
import itertools
from fractions import Fraction
from pathlib import Path

import pytest

from glasslab.core.config import dynamics, presets
from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]


def test_the_kinds_and_what_they_use():
    sgd, gd = DynamicsConfig(kind="sgd"), DynamicsConfig(kind="gd")
    lang, lang_mb = DynamicsConfig(kind="langevin"), DynamicsConfig(kind="langevin", minibatch_drift=True)
    assert [dynamics.uses_minibatches(d) for d in (sgd, gd, lang, lang_mb)] == [True, False, False, True]
    assert [dynamics.full_batch(d) for d in (sgd, gd, lang, lang_mb)] == [False, True, True, False]
    assert [dynamics.has_momentum(k) for k in dynamics.KINDS] == [True, True, False]
    assert [dynamics.has_temperature(k) for k in dynamics.KINDS] == [False, False, True]
    # a store's mapping (old stores lack fields: they read as the defaults)
    assert dynamics.uses_minibatches({"kind": "langevin"}) is False
    assert dynamics.uses_minibatches({"kind": "langevin", "minibatch_drift": True}) is True
    assert dynamics.value({}, "batch_size") == DynamicsConfig().batch_size


def test_the_defaults_of_a_mapping_are_the_presets_defaults():
    # dynamics.value reads a field missing from a stored mapping as DynamicsConfig's default
    for f in presets.dataclasses.fields(DynamicsConfig):
        assert dynamics.value({}, f.name) == f.default, f.name


def test_which_fields_apply():
    assert not dynamics.applies(DynamicsConfig(kind="gd"), "batch_size")
    assert dynamics.applies(DynamicsConfig(kind="gd"), "gd_chunk")
    assert not dynamics.applies(DynamicsConfig(kind="langevin"), "momentum")
    assert dynamics.applies(DynamicsConfig(kind="langevin", minibatch_drift=True), "batch_size")
    assert not dynamics.applies(DynamicsConfig(kind="sgd"), "temperature")
    assert dynamics.applies(DynamicsConfig(kind="sgd"), "lr")


def test_noise_off_of_each_kind():
    sgd = DynamicsConfig(kind="sgd", lr=0.2, momentum=0.5, batch_size=10)
    assert dynamics.noise_off(sgd) == DynamicsConfig(kind="gd", lr=0.2, momentum=0.5, batch_size=10)
    lang = DynamicsConfig(kind="langevin", temperature=1e-3, minibatch_drift=True)
    assert dynamics.noise_off(lang) == DynamicsConfig(kind="langevin", temperature=0.0, minibatch_drift=False)
    assert dynamics.noise_off({"kind": "sgd", "lr": 0.3}) == {"kind": "gd", "lr": 0.3}
    with pytest.raises(BadInput, match="no noise to switch off"):
        dynamics.noise_off(DynamicsConfig(kind="gd"))


def test_steps_per_epoch():
    assert dynamics.steps_per_epoch(DynamicsConfig(kind="sgd", batch_size=100), 2000) == 20
    assert dynamics.steps_per_epoch(DynamicsConfig(kind="sgd", batch_size=300), 2000) == 7  # ceil
    assert dynamics.steps_per_epoch(DynamicsConfig(kind="gd"), 2000) is None
    assert dynamics.steps_per_epoch({"kind": "langevin"}, 2000) is None


@pytest.mark.parametrize("sampler, batches", [
    ("reshuffle", itertools.combinations),                                  # every B-subset, equally likely
    ("replacement", lambda x, B: itertools.product(x, repeat=B)),          # every ordered B-tuple of draws
])
def test_the_batch_mean_variance_of_each_sampler_by_enumeration(sampler, batches):
    """Var over every equally likely batch of the batch mean of x, against the population variance of x:
    exactly (P - B) / (B (P - 1)) without replacement and 1 / B with it (exact rational arithmetic)."""
    x = [Fraction(v) for v in (3, -1, 4, 1, -5, 9, 2)]
    P = len(x)
    mean = sum(x) / P
    sigma2 = sum((v - mean) ** 2 for v in x) / P
    for B in range(1, 5 if sampler == "replacement" else P + 1):
        means = [sum(c) / B for c in batches(x, B)]
        var = sum((m - mean) ** 2 for m in means) / len(means)
        got = dynamics.batch_mean_variance(DynamicsConfig(batch_size=B, sampler=sampler), P)
        assert got == pytest.approx(float(var / sigma2), rel=1e-12), B


def test_one_description_for_each_place():
    sgd = DynamicsConfig(kind="sgd", lr=0.5, batch_size=100, momentum=0.5)
    gd = DynamicsConfig(kind="gd", lr=0.1)
    lang = DynamicsConfig(kind="langevin", lr=0.01, temperature=1e-3)
    repl = DynamicsConfig(kind="sgd", lr=0.5, batch_size=100, sampler="replacement")
    assert [dynamics.describe(d) for d in (sgd, gd, lang, repl)] == [
        "sgd lr 0.5 B 100 m 0.5", "gd lr 0.1 m 0", "langevin lr 0.01 T 0.001",
        "sgd lr 0.5 B 100 m 0 with replacement"]
    assert [dynamics.describe(d, "compact") for d in (sgd, gd, lang, repl)] == [
        "sgd 0.5/100 m0.5", "gd 0.1", "langevin 0.01 T0.001", "sgd 0.5/100 repl."]
    assert dynamics.describe(presets.Preset().to_dict()["dynamics"], "kind") == "sgd"
    assert dynamics.describe(repl, "kind") == "sgd with replacement"
    assert dynamics.describe({"kind": "sgd", "lr": 0.5}) == "sgd lr 0.5 B 100 m 0"  # an old store
    assert dynamics.describe({}) == ""
    assert dynamics.describe_switch(sgd, lang) == "sgd -> langevin (lr 0.01, T 0.001)"
    assert dynamics.describe_switch(sgd, repl) == "sgd -> sgd (lr 0.5, T 0, minibatches with replacement)"


def test_a_switch_is_checked_as_a_preset_is():
    preset = presets.Preset().replace(data=presets.DataConfig(train_size=200))
    new = dynamics.switched(preset, preset.dynamics, {"kind": "langevin", "temperature": 1e-4, "momentum": 0.0})
    assert (new.kind, new.temperature, new.lr) == ("langevin", 1e-4, preset.dynamics.lr)
    with pytest.raises(BadInput, match="overdamped"):
        dynamics.switched(preset, preset.dynamics, {"kind": "langevin", "momentum": 0.9})
    with pytest.raises(BadInput, match="larger than the training set"):
        dynamics.switched(preset, preset.dynamics, {"batch_size": 500})
    with pytest.raises(BadInput, match="did you mean 'temperature'"):
        dynamics.switched(preset, preset.dynamics, {"temprature": 1.0})
    # One rule for a switch (issue 31 item 11): a new kind takes the preset's values for what is not given.
    sgd = DynamicsConfig(kind="sgd", lr=0.1, momentum=0.5)
    lang = DynamicsConfig(kind="langevin", lr=0.01, temperature=1e-6)
    assert dynamics.switch_values(sgd, sgd, {"kind": "langevin"}) == {
        "kind": "langevin", "lr": 0.1, "temperature": 0.0, "momentum": 0.0, "sampler": "reshuffle"}
    assert dynamics.switch_values(sgd, lang, {"kind": "sgd"})["momentum"] == 0.5  # it kept 0 before
    assert dynamics.switch_values(sgd, lang, {"kind": "sgd", "momentum": 0.9})["momentum"] == 0.9  # given wins
    assert dynamics.switch_values(sgd, lang, {"lr": 0.5}) == {"lr": 0.5}  # the same kind: only what is given
    assert dynamics.switch_values(sgd, lang, {"kind": "langevin", "lr": 0.5}) == {"kind": "langevin", "lr": 0.5}


def test_the_values_offered_for_another_kind():
    preset = DynamicsConfig(kind="sgd", lr=0.1, momentum=0.5)
    now = DynamicsConfig(kind="langevin", lr=0.01, temperature=1e-3)
    assert dynamics.values_for_kind("sgd", preset, now) == {"lr": 0.1, "temperature": 0.0, "momentum": 0.5,
                                                            "sampler": "reshuffle"}
    assert dynamics.values_for_kind("langevin", preset, now) == {"lr": 0.1, "temperature": 1e-3, "momentum": 0.0,
                                                                 "sampler": "reshuffle"}


def test_a_switch_to_another_kind_takes_the_presets_values_and_the_same_kind_only_what_is_given():
    preset = DynamicsConfig(kind="sgd", lr=0.1, momentum=0.5, batch_size=50)
    now = DynamicsConfig(kind="langevin", lr=0.01, temperature=1e-3, batch_size=50, sampler="replacement")
    assert dynamics.switch_values(preset, now, {"kind": "sgd"}) == {
        "kind": "sgd", "lr": 0.1, "temperature": 0.0, "momentum": 0.5, "sampler": "reshuffle"}
    assert dynamics.switch_values(preset, now, {"kind": "sgd", "lr": 0.2})["lr"] == 0.2  # given wins
    assert dynamics.switch_values(preset, now, {"temperature": 2e-3}) == {"temperature": 2e-3}


# ------------------------------------------------------- the one home, kept

KIND_LITERALS = set(dynamics.KINDS)
HOME = ROOT / "core" / "config" / "dynamics.py"


def kind_literals(path: Path, root: Path = ROOT) -> list[str]:
    """Lines of a module holding a string constant that is exactly a dynamics kind ("sgd", ...)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(root)}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in KIND_LITERALS]


def test_no_module_outside_the_dynamics_home_spells_a_kind():
    found = [hit for folder in ("core", "tui", "api") for p in sorted((ROOT / folder).rglob("*.py"))
             if p != HOME for hit in kind_literals(p)]
    assert found == []


def test_the_kind_check_finds_a_planted_literal(tmp_path):
    planted = tmp_path / "core" / "planted.py"
    planted.parent.mkdir()
    planted.write_text('def f(d):\n    """Not "sgd" in prose."""\n    return d.kind == "sgd"\n')
    assert kind_literals(planted, tmp_path) == ["core/planted.py:3: 'sgd'"]
