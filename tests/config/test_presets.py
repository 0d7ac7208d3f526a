"""Presets: TOML validated into frozen dataclasses; bad values fail with one clear message."""

import dataclasses
import tomllib

import pytest

from glasslab.core.config import presets
from glasslab.core.errors import BadInput
from glasslab.core.runs import catalog

SHIPPED = sorted(presets.available())


def test_the_required_presets_ship():
    need = {"quickstart", "bj18-toy-cifar10", "bj18-toy-cifar10-under", "bj18-fc-mnist",
            "bj18-smallnet-cifar10", "bj18-resnet18-cifar100", "fmnist-toy-over", "fmnist-toy-under"}
    assert need <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_loads_and_round_trips(name):
    p = presets.load(name)
    assert p.name == name and p.description
    again = presets.from_dict(tomllib.loads(catalog.to_toml(p)), name=name)
    assert again == p


def test_resolved_toml_round_trips_awkward_strings_and_small_floats():
    """Quotes, a backslash and a newline in the description, and lr = 1e-5, survive to_toml -> tomllib:
    the TOML is written by tomlkit, not by hand (a hand writer left the newline raw, invalid TOML)."""
    base = presets.load("quickstart")
    p = base.replace(description='say "hi" to C:\\data\\n\nsecond line',
                     dynamics=dataclasses.replace(base.dynamics, lr=1e-5))
    text = catalog.to_toml(p)
    again = presets.from_dict(tomllib.loads(text), name=p.name)
    assert again == p and again.description.count("\n") == 1
    assert text.startswith("# quickstart: resolved preset\ndescription = ")
    assert "\nlr = 1e-05  # learning rate eta\n" in text


def test_empty_file_is_the_defaults(tmp_path):
    f = tmp_path / "empty.toml"
    f.write_text("")
    p = presets.load(str(f))
    assert p.model == presets.ModelConfig() and p.run == presets.RunConfig() and p.name == "empty"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.run.steps = 3


@pytest.mark.parametrize("text, message", [
    ("[modle]\nkind='toy'", "did you mean 'model'"),
    ("[model]\nwidht = 3", "did you mean 'width'"),
    ("[dynamics]\nlr = 0", "dynamics.lr must be > 0"),
    ("[dynamics]\nlr = -0.1", "dynamics.lr must be > 0"),
    ("[dynamics]\nlr = 'fast'", "dynamics.lr must be a number"),
    ("[dynamics]\ntemperature = -1", "dynamics.temperature must be >= 0"),
    ("[dynamics]\nkind = 'adam'", "dynamics.kind = 'adam' is not known"),
    ("[dynamics]\nkind = 'sdg'", "did you mean 'sgd'"),
    ("[model]\nwidth = 0", "model.width must be >= 1"),
    ("[model]\nwidth = 2.5", "model.width must be an integer"),
    ("[model]\nwidth = true", "model.width must be an integer"),
    ("[data]\nname = 'imagenet'", "data.name = 'imagenet' is not known"),
    ("[data]\ntrain_size = 50\n[dynamics]\nbatch_size = 100", "batch_size = 100 is larger than the training set (50)"),
    ("[data]\nname = 'cifar10'\ntrain_size = 60000", "exceeds the 50000 training images"),
    ("[dynamics]\nkind = 'langevin'\nmomentum = 0.5", "overdamped"),
    ("[run]\ndevice = 'tpu'", "run.device = 'tpu' is not known"),
    ("[model]\nkind = 'smallnet'", "needs image inputs"),
    ("description = 3", "description must be a string"),
    ("[data]\nshape = [0, 3]", "data.shape must be a list of integers"),
    ("model = 3", "[model] must be a table"),
])
def test_bad_values_fail_with_one_clear_line(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(BadInput) as err:
        presets.load(str(f))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_toml_names_the_file(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text("[model\nkind = toy")
    with pytest.raises(BadInput, match="broken.toml is not valid TOML"):
        presets.load(str(f))


def test_presets_are_data_not_code(tmp_path):
    f = tmp_path / "evil.toml"
    f.write_text("[dynamics]\nkind = \"__import__('os').system('touch pwned')\"")
    with pytest.raises(BadInput, match="is not known"):
        presets.load(str(f))
    assert not (tmp_path / "pwned").exists()


def test_overrides_are_type_checked_like_the_file():
    p = presets.load("quickstart", ["dynamics.lr=0.05", "run.steps=123", "dynamics.kind=gd", "data.shape=[1, 8, 8]"])
    assert p.dynamics.lr == 0.05 and p.run.steps == 123 and p.dynamics.kind == "gd" and p.data.shape == (1, 8, 8)
    assert isinstance(presets.load("quickstart", ["dynamics.lr=1"]).dynamics.lr, float)
    for bad, msg in [("dynamics.lr=abc", "must be a number"), ("run.steps=1.5", "must be an integer"),
                     ("dynamics.lr", "section.key=value"), ("dynamcs.lr=1", "did you mean 'dynamics'"),
                     ("run.stpes=3", "did you mean 'steps'"), ("dynamics.batch_size=100000", "larger than the training set")]:
        with pytest.raises(BadInput, match=msg):
            presets.load("quickstart", [bad])


def test_found_by_name_from_any_directory_and_local_presets_shadow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert presets.load("quickstart").name == "quickstart"
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.toml").write_text("[run]\nsteps = 7\n")
    assert presets.load("mine").run.steps == 7
    assert "mine" in presets.available() and "quickstart" in presets.available()


def test_unknown_name_and_directory_path():
    with pytest.raises(BadInput, match="did you mean 'quickstart'"):
        presets.load("quickstrat")
    with pytest.raises(BadInput, match="is a directory"):
        presets.load(str(presets.shipped_dir()))
    with pytest.raises(BadInput, match="does not exist"):
        presets.load("/nonexistent/x.toml")


def test_catalog_counts_parameters_without_building_weights():
    s = catalog.summarize(presets.load("bj18-resnet18-cifar100"))
    assert 11_000_000 < s.n_params < 11_300_000  # ResNet-18 with a 100-way head
    q = catalog.summarize(presets.load("fmnist-toy-over"))
    assert q.n_params == 784 * 512 + 512 + 512 * 10 + 10 and q.train_size == 2000
    under = catalog.summarize(presets.load("fmnist-toy-under"))
    assert under.n_params == 784 * 4 + 4 + 4 * 10 + 10


FLOAT_FIELDS = [f"{s}.{f.name}" for s, cls in presets.SECTIONS.items() for f in dataclasses.fields(cls)
                if f.type == "float"]


@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_every_float_field_refuses_non_finite_values(field, tmp_path):
    """Issue 10: temperature = nan was taken, and a Langevin run at T = nan trained as plain GD."""
    section, key = field.split(".")
    for value in ("nan", "inf", "-inf"):
        with pytest.raises(BadInput, match=f"{field} must be a finite number, got {value}"):
            presets.with_overrides(presets.Preset(), [f"{field}={value}"])
        f = tmp_path / "p.toml"
        f.write_text(f"[{section}]\n{key} = {value}\n")
        with pytest.raises(BadInput, match=f"{field} must be a finite number"):
            presets.load(str(f))
    with pytest.raises(BadInput, match="must be a finite number"):  # a TOML integer too big for a float
        presets.with_overrides(presets.Preset(), [f"{field}={10**400}"])


def test_threads_and_checkpoint_cadence_fields():
    p = presets.Preset()
    assert p.run.threads == "auto" and p.recording.checkpoint_minutes == 10.0
    assert presets.with_overrides(p, ["run.threads=4"]).run.threads == 4
    assert presets.with_overrides(p, ['run.threads="2"']).run.threads == 2  # --threads passes a string
    assert presets.with_overrides(p, ["run.threads=AUTO"]).run.threads == "auto"
    for bad in ("0", "-2", "1.5", "many", "true"):
        with pytest.raises(BadInput, match="run.threads must be 'auto' or a positive whole number"):
            presets.with_overrides(p, [f"run.threads={bad}"])
    assert presets.with_overrides(p, ["recording.checkpoint_minutes=0"]).recording.checkpoint_minutes == 0.0


def test_one_rule_for_run_names_from_the_file_name_and_from_run_name(tmp_path):
    """Issue 31 item 9: a name taken from the preset's file follows run.name's rule; run.name set
    names the runs of any file; the console's start (launch.start) refuses before creating anything."""
    from glasslab.core.runs import launch

    from support.presets import TINY_TOML

    for stem in ("my run", "r\u00e9sum\u00e9", "new\nline", "x" * (presets.NAME_MAX + 1)):
        f = tmp_path / f"{stem}.toml"
        f.write_text(TINY_TOML.format(steps=20))
        with pytest.raises(BadInput, match="the preset's file name"):
            presets.run_name(presets.load(str(f)))
        with pytest.raises(BadInput, match="the preset's file name"):
            launch.start(presets.load(str(f)), tmp_path / "runs")
        assert presets.run_name(presets.load(str(f), ["run.name=ok-1"])) == "ok-1"
        with pytest.raises(BadInput, match="run.name = 'my run' must be a plain name"):  # the same rule
            presets.load(str(f), ["run.name=my run"])
    assert not (tmp_path / "runs").exists()
    assert presets.run_name(presets.load("quickstart")) == "quickstart"
