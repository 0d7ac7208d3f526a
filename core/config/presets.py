"""Presets: short TOML files validated into one frozen dataclass tree.

A preset is data, never code: TOML is parsed with `tomllib`, every value is
checked against the field's type and range, unknown keys fail with a
"did you mean" suggestion, and `--set section.key=value` overrides go through
the same checks.  Every field has a default, so an empty file is a valid preset.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glasslab.core.config import dynamics
from glasslab.core.config.threads import parse_threads
from glasslab.core.errors import BadInput

MODEL_KINDS = ("toy", "fc", "smallnet", "resnet18", "harmonic")
DATA_SETS = ("synthetic", "fashion-mnist", "mnist", "cifar10", "cifar100")
NORMS = ("batch", "group", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:N (the field's pattern)


def is_device(name: str) -> bool:
    """auto, cpu, cuda, cuda:N or mps (whether that device is here is the run's check: system/devices.py)."""
    return name in DEVICES or re.fullmatch(r"cuda:\d+", name) is not None
LOSSES = ("default", "hinge", "hinge2")  # "default": the model's own loss (see core/system/models.py)
HINGE_LOSSES = ("hinge", "hinge2")
BINARY_SPLITS = ("", "parity")


# The largest run.steps: 10^12 updates take ~4 months even at 10^5 steps/s (a tiny model on a GPU); a
# larger count is a typo, and past 2^63 it overflows the int64 step counters of the store and the grid.
MAX_STEPS = 10**12


def _f(default, help: str, *, min=None, max=None, gt=None, choices=None, pattern=None):
    """A field with its help text and range; the validator reads the metadata."""
    meta = {"help": help, "min": min, "max": max, "gt": gt, "choices": choices, "pattern": pattern}  # pattern: also allowed
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ModelConfig:
    kind: str = _f("toy", "network: toy | fc | smallnet | resnet18 | harmonic", choices=MODEL_KINDS)
    width: int = _f(512, "hidden width (toy, fc); number of coordinates (harmonic)", min=1)
    depth: int = _f(3, "hidden layers (fc)", min=1, max=64)
    norm: str = _f("batch", "norm layer of resnet18: batch | group | none", choices=NORMS)
    stiffness: float = _f(1.0, "harmonic only: k in L = k |w|^2 / 2 (0 = flat landscape)", min=0.0)
    init_std: float = _f(0.0, "harmonic only: std of the initial w (0 starts at the minimum)", min=0.0)
    loss: str = _f("default", "default (the model's own) | hinge | hinge2: [SG19] hinge losses, one output, need data.binary",
                   choices=LOSSES)


@dataclass(frozen=True)
class DataConfig:
    name: str = _f("synthetic", "data set: synthetic | fashion-mnist | mnist | cifar10 | cifar100", choices=DATA_SETS)
    train_size: int = _f(1000, "class-balanced training subset m (0 = the whole set)", min=0)
    test_size: int = _f(1000, "class-balanced test subset (0 = the whole set)", min=0)
    seed: int = _f(0, "which samples are drawn (and the synthetic task itself)", min=0)
    shape: tuple[int, ...] = _f((32,), "synthetic only: input shape, e.g. [32] or [1, 8, 8]")
    classes: int = _f(10, "synthetic only: number of classes", min=2, max=1000)
    teacher_width: int = _f(64, "synthetic only: hidden width of the random teacher that labels the inputs", min=1)
    normalize: bool = _f(True, "per-channel normalisation with the training subset's mean and std")
    data_dir: str = _f("", "where mnist/cifar files live ('' = ./data; Fashion-MNIST also looks in /usr/share/datasets)")
    binary: str = _f("", "'' (off) | parity: binary labels y = +1 for an even class index, -1 for an odd one ([SG19])",
                     choices=BINARY_SPLITS)
    downsample: int = _f(1, "average-pool images by this integer factor k (1 = off): k x k pixels -> 1, fewer inputs "
                            "and so smaller N per hidden unit ([SG19]'s N/P below 1 at a fixed P)", min=1)


@dataclass(frozen=True)
class DynamicsConfig:
    kind: str = _f(dynamics.SGD, dynamics.KIND_HELP, choices=dynamics.KINDS)
    lr: float = _f(0.1, "learning rate eta", gt=0.0)
    batch_size: int = _f(100, "minibatch size B (sgd; langevin with minibatch drift)", min=1)
    sampler: str = _f(dynamics.RESHUFFLE, dynamics.SAMPLER_HELP, choices=dynamics.SAMPLERS)
    momentum: float = _f(0.0, "heavy-ball momentum (gd, sgd); langevin is overdamped", min=0.0, max=0.999999)
    weight_decay: float = _f(0.0, "L2 weight decay added to the gradient", min=0.0)
    temperature: float = _f(0.0, "langevin temperature T, in units of the loss", min=0.0)
    minibatch_drift: bool = _f(False, "langevin: drift from a minibatch instead of the full batch")
    gd_chunk: int = _f(0, "samples per gradient-accumulation pass for full-batch gradients (0 = all at once)", min=0)


@dataclass(frozen=True)
class RecordingConfig:
    snapshots: int = _f(80, "log-spaced snapshot times before de-duplication (plus t = 0)", min=2, max=100000)
    first: int = _f(10, "first non-zero snapshot time t0", min=1)
    every: int = _f(0, "also a snapshot every this many steps (0 = none): glasslab control's replicas read "
                    "lags at and between epoch multiples", min=0)
    log_every: int = _f(10, "steps between entries of the running minibatch loss", min=1)
    eval_chunk: int = _f(4096, "samples per forward pass when evaluating the full sets (and measuring D)", min=1)
    waiting_times: int = _f(8, "online waiting times: Delta, Q, alpha2, Y filled live from these t_w (0 = none)", min=0, max=64)
    d_every: int = _f(1, "measure the noise strength D every k-th snapshot (0 = never)", min=0)
    d_batch: bool = _f(True, "also measure [BJ18]'s minibatch-gradient variance D_B with D")
    probe_size: int = _f(10000, "training samples used for D (the whole set when it is smaller)", min=1)
    overlap_f: float = _f(100.0, "overlap threshold eps = std(w(t_w)) / f ([KWJ24] used 150 to 6000)", gt=0.0)
    checkpoint_minutes: float = _f(10.0, "save the resume state every this many minutes of wall time (0 = off): "
                                   "bounds what a SIGKILL loses; a stop always saves", min=0.0)


@dataclass(frozen=True)
class RunConfig:
    seed: int = _f(0, "seed of the initialisation, minibatch order and Langevin noise", min=0)
    steps: int = _f(10000, "number of parameter updates (at most 10^12: months at the fastest rates seen)",
                    min=1, max=MAX_STEPS)
    device: str = _f("auto", "auto | cpu | cuda | cuda:N | mps (auto: cuda, then mps, then cpu; cuda:N the N-th GPU)",
                     choices=DEVICES, pattern=r"cuda:\d+")
    name: str = _f("", "name of the run's store under --out ('' = the preset's name): letters, digits, . _ -")
    init_from: str = _f("", "start from the last snapshot of this run store (same model), e.g. a trained minimum ([KWJ24])")
    init_step: int = _f(-1, "with init_from: start from its snapshot at this step (-1 = its last snapshot); "
                        "glasslab control branches a run so", min=-1)
    threads: int | str = _f("auto", "CPU threads for torch: a count, or auto (the CPUs this process may use, "
                            "capped for small models and on a GPU; see core/config/threads.py)")
    tags: tuple[str, ...] = _f((), "labels for finding the run again (glasslab ps --tag X; glasslab note adds more): "
                               "letters, digits, . _ - + : /, up to 64 characters each")


@dataclass(frozen=True)
class Preset:
    name: str = "preset"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the store's `preset` attribute)."""
        out = dataclasses.asdict(self)
        out["data"]["shape"] = list(self.data.shape)
        out["run"]["tags"] = list(self.run.tags)
        return out

    def replace(self, **sections) -> "Preset":
        return dataclasses.replace(self, **sections)


SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "dynamics": DynamicsConfig,
    "recording": RecordingConfig,
    "run": RunConfig,
}
TOP_KEYS = ("description", *SECTIONS, "sweep")  # [sweep]: the axes of `glasslab sweep` (core/sweep/grid.py)

# Training-set sizes of the real data sets, so that a preset can be checked
# (B <= train size) without reading any file.
FULL_TRAIN_SIZE = {"fashion-mnist": 60000, "mnist": 60000, "cifar10": 50000, "cifar100": 50000}
FULL_TEST_SIZE = {"fashion-mnist": 10000, "mnist": 10000, "cifar10": 10000, "cifar100": 10000}
IMAGE_SHAPES = {"fashion-mnist": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}


def _suggest(key: str, options) -> str:
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(options)})"


def _type_name(tp) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            "count": "'auto' or a positive whole number", "tags": "a list of tags (strings)"}.get(tp, "a list of integers")


def _coerce(where: str, tp, value):
    """Check one TOML value against a field type; ints are accepted where floats are."""
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        # nan and inf parse as TOML floats; a Langevin run at T = nan would train as plain GD
        # and write a bare NaN into zarr.json, so no float field takes them.
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value if isinstance(value, float) else math.inf if abs(value) > 1e308 else 0.0):
            raise BadInput(f"{where} must be a finite number, got {value!r}")
        value = float(value) if ok else value
    elif tp == "count":  # "auto" or a positive whole number (run.threads)
        try:
            value, ok = parse_threads(value), True
        except ValueError:
            ok = False
    elif tp is str:
        ok = isinstance(value, str)
    elif tp == "tags":  # run.tags: a list of tags, or one tag (--set run.tags=fig2)
        value = [value] if isinstance(value, str) else value
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        value = check_tags(value, where) if ok else value
    else:  # tuple[int, ...]
        ok = (isinstance(value, (list, tuple)) and len(value) > 0
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value))
        value = tuple(value) if ok else value
    if not ok:
        raise BadInput(f"{where} must be {_type_name(tp)}, got {value!r}")
    return value


def _check_range(where: str, value, meta) -> None:
    also = meta.get("pattern")
    if meta.get("choices") and value not in meta["choices"] and not (also and re.fullmatch(also, str(value))):
        raise BadInput(f"{where} = {value!r} is not known{_suggest(str(value), meta['choices'])}")
    if meta.get("gt") is not None and not value > meta["gt"]:
        raise BadInput(f"{where} must be > {meta['gt']}, got {value}")
    if meta.get("min") is not None and value < meta["min"]:
        raise BadInput(f"{where} must be >= {meta['min']}, got {value}")
    if meta.get("max") is not None and value > meta["max"]:
        raise BadInput(f"{where} must be <= {meta['max']}, got {value}")


_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "int | str": "count", "tuple[str, ...]": "tags"}

TAG_MAX = 64
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:/-]*")


def check_tags(tags, where: str = "tag") -> tuple[str, ...]:
    """Tags as stored: each a plain word (letters, digits, . _ + : / -, at most TAG_MAX characters, so
    that `ps --tag X` and a shell take it as one word), duplicates dropped, order kept.  BadInput else."""
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag) or len(tag) > TAG_MAX:
            raise BadInput(f"{where} {tag!r} is not a tag: one word of letters, digits, . _ + : / -, "
                           f"starting with a letter or digit, at most {TAG_MAX} characters")
        if tag not in out:
            out.append(tag)
    return tuple(out)


def _field_type(f) -> type:
    return _TYPES.get(f.type, tuple)


def _build_section(section: str, raw: dict, base=None):
    cls = SECTIONS[section]
    if not isinstance(raw, dict):
        raise BadInput(f"[{section}] must be a table of key = value lines, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise BadInput(f"unknown key '{key}' in [{section}]{_suggest(key, fields)}")
        f = fields[key]
        v = _coerce(f"{section}.{key}", _field_type(f), value)
        _check_range(f"{section}.{key}", v, f.metadata)
        values[key] = v
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def from_dict(raw: dict, name: str = "preset") -> Preset:
    """Validate a parsed TOML document into a Preset (a [sweep] table is glasslab sweep's, and ignored here)."""
    for key in raw:
        if key not in TOP_KEYS:
            raise BadInput(f"unknown section '{key}'{_suggest(key, TOP_KEYS)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise BadInput(f"description must be a string, got {description!r}")
    sections = {s: _build_section(s, raw.get(s, {})) for s in SECTIONS}
    preset = Preset(name=name, description=description, **sections)
    check(preset)
    return preset


def from_stored(d: dict) -> Preset:
    """The Preset recorded in a store's `preset` attribute (Preset.to_dict's output)."""
    return from_dict({k: v for k, v in d.items() if k != "name"}, name=d.get("name", "preset"))


NAME_MAX = 100  # a store name adds -YYYYmmdd-HHMMSS-K.zarr and .control: well inside a file system's 255
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, source: str) -> str:
    """The one rule for a name that names a store or a sweep folder, wherever it comes from (run.name,
    or the preset's file name when run.name is empty): a plain name of letters, digits, . _ - (no
    slashes, spaces, control characters), at most NAME_MAX characters.  Returns the name; BadInput
    naming its source and the fix otherwise.  A preset is data: it must not be able to point the
    output outside --out, nor give a name the file system refuses (255 bytes) once the stamp is added."""
    from_file = source != "run.name"
    if len(name) > NAME_MAX:
        fix = "rename the file, or name the runs with --set run.name=NAME" if from_file else "choose a shorter name"
        raise BadInput(f"{source} is {len(name)} characters long: the limit is {NAME_MAX}; {fix}")
    if not _SAFE_NAME.fullmatch(name):
        fix = ("rename the file, or name the runs with --set run.name=NAME" if from_file
               else "the store always goes directly under --out")
        raise BadInput(f"{source} = {name!r} must be a plain name (letters, digits, . _ -, no slashes): {fix}")
    return name


def run_name(p: Preset) -> str:
    """The name a new run's store takes (NAME-YYYYmmdd-HHMMSS.zarr): run.name, or else the preset's
    name (its file's stem), under one rule (check_name)."""
    if p.run.name:
        return check_name(p.run.name, "run.name")
    return check_name(p.name, "the preset's file name")


def check(p: Preset) -> None:
    """Cross-field checks that single-field ranges cannot express."""
    d, dyn, m = p.data, p.dynamics, p.model
    if p.run.name:
        check_name(p.run.name, "run.name")
    if d.name in FULL_TRAIN_SIZE:
        if d.train_size > FULL_TRAIN_SIZE[d.name]:
            raise BadInput(f"data.train_size = {d.train_size} exceeds the {FULL_TRAIN_SIZE[d.name]} training images of {d.name}")
        if d.test_size > FULL_TEST_SIZE[d.name]:
            raise BadInput(f"data.test_size = {d.test_size} exceeds the {FULL_TEST_SIZE[d.name]} test images of {d.name}")
    elif d.train_size == 0 or d.test_size == 0:
        raise BadInput("the synthetic data set has no fixed size: set data.train_size and data.test_size >= 1")
    if d.name != "synthetic" and d.train_size:
        n_classes = 100 if d.name == "cifar100" else 10
        if d.train_size < n_classes:
            raise BadInput(f"data.train_size = {d.train_size} is below the {n_classes} classes of {d.name}: a balanced subset needs at least one per class")
    if d.name == "synthetic" and d.train_size < d.classes:
        raise BadInput(f"data.train_size = {d.train_size} is below data.classes = {d.classes}: a balanced subset needs at least one per class")
    train = d.train_size or FULL_TRAIN_SIZE.get(d.name, d.train_size)
    dynamics.check(dyn, train)
    if m.kind in ("smallnet", "resnet18") and d.name == "synthetic" and len(d.shape) != 3:
        raise BadInput(f"model {m.kind} needs image inputs: set data.shape = [channels, height, width], e.g. [3, 32, 32]")
    if m.kind == "smallnet" and d.name == "synthetic" and min(d.shape[1:]) < 16:
        raise BadInput(f"smallnet needs images of at least 16x16 pixels, data.shape = {list(d.shape)}")
    _check_binary(p)
    _check_downsample(d)
    if m.kind == "harmonic" and dyn.lr * m.stiffness >= 2:
        raise BadInput(f"lr * stiffness = {dyn.lr * m.stiffness:g} >= 2 diverges for the harmonic model: lower dynamics.lr")


def _check_downsample(d: DataConfig) -> None:
    """data.downsample needs images whose height and width it divides (no partial pooling windows)."""
    if d.downsample == 1:
        return
    shape = IMAGE_SHAPES.get(d.name, tuple(d.shape))
    if len(shape) != 3:
        raise BadInput(f"data.downsample = {d.downsample} needs image inputs [channels, height, width]; "
                       f"data.shape = {list(shape)} is not one: set data.downsample = 1")
    if shape[1] % d.downsample or shape[2] % d.downsample:
        ok = [k for k in range(2, min(shape[1:]) + 1) if shape[1] % k == 0 and shape[2] % k == 0]
        raise BadInput(f"data.downsample = {d.downsample} does not divide the {shape[1]}x{shape[2]} images of {d.name}: "
                       f"use 1 or one of {', '.join(map(str, ok))}")


def _check_binary(p: Preset) -> None:
    """The [SG19] setting comes whole: binary labels, one output and a hinge loss go together."""
    m, d = p.model, p.data
    if m.loss in HINGE_LOSSES and m.kind == "harmonic":
        raise BadInput(f"model.loss = {m.loss!r} does not apply to the harmonic model (its loss is its energy): "
                       "use model.loss = \"default\"")
    if m.loss in HINGE_LOSSES and not d.binary:
        raise BadInput(f"model.loss = {m.loss!r} needs a binary task with one output: set data.binary = \"parity\"")
    if d.binary and m.loss not in HINGE_LOSSES:
        raise BadInput(f"data.binary = {d.binary!r} gives labels +1/-1 and one output: set model.loss = "
                       "\"hinge\" or \"hinge2\" (the models' own losses need class indices)")


# ---------------------------------------------------------------- overrides

def parse_override(text: str) -> tuple[str, str, Any]:
    """'section.key=value' -> (section, key, value); the value is read as TOML, else as a bare string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise BadInput(f"--set expects section.key=value, got {text!r} (e.g. --set dynamics.lr=0.05)")
    path, raw = text.split("=", 1)
    section, key = path.strip().split(".", 1)
    if section not in SECTIONS:
        raise BadInput(f"--set {text}: unknown section '{section}'{_suggest(section, SECTIONS)}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word such as sgd or cpu
    return section, key.strip(), value


def with_overrides(preset: Preset, overrides: list[str] | dict[str, Any]) -> Preset:
    """Apply `section.key=value` overrides with the same type and range checks as the file."""
    items = (overrides.items() if isinstance(overrides, dict)
             else ((f"{s}.{k}", v) for s, k, v in map(parse_override, overrides)))
    sections = {s: getattr(preset, s) for s in SECTIONS}
    for path, value in items:
        section, key = path.split(".", 1)
        if section not in SECTIONS:
            raise BadInput(f"unknown section '{section}'{_suggest(section, SECTIONS)}")
        sections[section] = _build_section(section, {key: value}, base=sections[section])
    out = dataclasses.replace(preset, **sections)
    check(out)
    return out


# ---------------------------------------------------------------- finding presets

def shipped_dir() -> Path:
    """The presets/ folder shipped beside core/ (an editable install keeps it there)."""
    return Path(os.environ.get("GLASSLAB_PRESETS", Path(__file__).resolve().parents[2] / "presets"))


def search_dirs() -> list[Path]:
    local = Path.cwd() / "presets"
    dirs = [local] if local.is_dir() else []
    shipped = shipped_dir()
    if shipped.is_dir() and all(shipped.resolve() != d.resolve() for d in dirs):
        dirs.append(shipped)
    return dirs


def available() -> dict[str, Path]:
    """Preset name -> file; the working directory's presets/ shadows the shipped ones."""
    found: dict[str, Path] = {}
    for d in reversed(search_dirs()):
        for path in sorted(d.glob("*.toml")):
            found[path.stem] = path
    return dict(sorted(found.items()))


def resolve_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if name_or_path.endswith(".toml") or os.sep in name_or_path or p.exists():
        if p.is_dir():
            raise BadInput(f"{name_or_path} is a directory, not a preset file: give a .toml file or a preset name (glasslab presets list)")
        if not p.is_file():
            raise BadInput(f"preset file {name_or_path} does not exist (glasslab presets list shows the known presets)")
        return p
    known = available()
    if name_or_path not in known:
        raise BadInput(f"unknown preset '{name_or_path}'{_suggest(name_or_path, known)}; glasslab presets list shows them all")
    return known[name_or_path]


def read_toml(path: Path) -> dict[str, Any]:
    """A preset file parsed, not yet validated (a `[sweep]` table included); BadInput, naming the file,
    if it cannot be read or is not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise BadInput(f"{path} is not valid TOML: {err}") from None
    except (UnicodeDecodeError, OSError) as err:
        raise BadInput(f"cannot read preset {path}: {err}") from None


def load(name_or_path: str, overrides: list[str] | None = None) -> Preset:
    """Find, parse and validate a preset by name or path, then apply overrides."""
    path = resolve_path(name_or_path)
    preset = from_dict(read_toml(path), name=path.stem)
    return with_overrides(preset, overrides) if overrides else preset


def describe_fields() -> dict[str, list[tuple[str, Any, str]]]:
    """(name, default, help) for every field: documentation and the console's editor."""
    return {s: [(f.name, f.default, f.metadata["help"]) for f in dataclasses.fields(c)] for s, c in SECTIONS.items()}
