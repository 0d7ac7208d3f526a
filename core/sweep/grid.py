"""The sweep grid: one syntax for axes, their product, and the check of every point.

An axis is `section.key=ITEMS`, on the command line (`--grid`) or in a preset's
`[sweep]` table.  ITEMS is a comma list; each item is one of

    a:b  or  a:b:s     integers a, a+s, ... below b (Python's range): run.seed=0:5 is 0,1,2,3,4
    lo..hixn           n values spaced evenly in log between lo and hi, both included:
                       dynamics.temperature=1e-10..1e-6x5 is 1e-10,1e-9,1e-8,1e-7,1e-6
    VALUE              read as TOML (2, 0.05, true, "text"), else taken as a bare word (sgd)

so `model.width=2,4,8:11` is 2,4,8,9,10.  The grid is the product of the axes,
in the order given, the last axis varying fastest.  In a TOML `[sweep]` table an
axis is a quoted key or a sub-table, with an array of values or a string in the
syntax above:

    [sweep]
    "model.width" = [2, 4, 8, 16]
    "run.seed" = "0:5"

Every point is validated as a preset (types, ranges, cross-field checks, data
present) before anything is submitted; one bad point is BadInput naming it.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from glasslab.core.config import presets
from glasslab.core.errors import BadInput
from glasslab.core.system import data as datasets

_INT_RANGE = re.compile(r"^(-?\d+):(-?\d+)(?::(-?\d+))?$")
_LOG_RANGE = re.compile(r"^([0-9.eE+-]+)\.\.([0-9.eE+-]+)x(\d+)$")
MAX_POINTS = 100_000  # a typo such as 0:1000000 should fail here, not in Slurm


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as sgd or cpu


def parse_item(axis: str, item: str) -> list[Any]:
    """One item of an axis (see the module docstring) -> its values."""
    item = item.strip()
    if not item:
        raise BadInput(f"--grid {axis}: an empty item (two commas in a row, or a trailing comma)")
    m = _INT_RANGE.match(item)
    if m:
        a, b, s = int(m[1]), int(m[2]), int(m[3] or 1)
        if s == 0:
            raise BadInput(f"--grid {axis}={item}: the step of a range cannot be 0")
        values = list(range(a, b, s))
        if not values:
            raise BadInput(f"--grid {axis}={item} is empty: a:b counts a, a+1, ... below b (e.g. 0:5 is 0..4)")
        return values
    m = _LOG_RANGE.match(item)
    if m:
        try:
            lo, hi, n = float(m[1]), float(m[2]), int(m[3])
        except ValueError:
            raise BadInput(f"--grid {axis}={item}: lo..hixn needs two numbers, e.g. 1e-10..1e-6x5") from None
        if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)) or n < 2:
            raise BadInput(f"--grid {axis}={item}: a log range needs lo, hi > 0 and n >= 2, e.g. 1e-10..1e-6x5")
        step = (math.log(hi) - math.log(lo)) / (n - 1)
        # 12 significant digits: 1e-9, not 9.999999999999999e-10, in names and tables
        return [float(f"{math.exp(math.log(lo) + k * step):.12g}") for k in range(n)]
    return [_value(item)]


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """'section.key=ITEMS' -> (key, values)."""
    if "=" not in text:
        raise BadInput(f"--grid expects section.key=values, got {text!r} (e.g. --grid model.width=2,4,8)")
    key, items = (s.strip() for s in text.split("=", 1))
    return key, axis_values(key, items)


def axis_values(key: str, spec: Any) -> list[Any]:
    """An axis from a grid string or (TOML) a list of values."""
    if "." not in key or key.split(".", 1)[0] not in presets.SECTIONS:
        raise BadInput(f"sweep axis {key!r} must be section.key with a section of {', '.join(presets.SECTIONS)}")
    if isinstance(spec, list):
        values = [v for s in spec for v in (parse_item(key, s) if isinstance(s, str) else [s])]
    elif isinstance(spec, str):
        values = [v for item in spec.split(",") for v in parse_item(key, item)]
    else:
        values = [spec]
    if not values:
        raise BadInput(f"sweep axis {key} has no values")
    seen = set()
    for v in values:
        if repr(v) in seen:
            raise BadInput(f"sweep axis {key} lists {v!r} twice")
        seen.add(repr(v))
    return values


def sweep_table(raw: dict) -> dict[str, list[Any]]:
    """A TOML `[sweep]` table (quoted keys or sub-tables) -> {key: values}."""
    axes: dict[str, list[Any]] = {}

    def walk(prefix: str, d: dict) -> None:
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                walk(key, v)
            else:
                axes[key] = axis_values(key, v)

    if not isinstance(raw, dict):
        raise BadInput("[sweep] must be a table of axes, e.g. \"model.width\" = [2, 4, 8]")
    walk("", raw)
    return axes


@dataclass(frozen=True)
class Plan:
    """A validated sweep before submission: the base preset, the axes, and every point's preset."""

    base: presets.Preset
    source: str                        # the preset name or file it came from
    axes: dict[str, list[Any]]
    points: list[dict[str, Any]]       # the overrides of each point, axis order
    resolved: list[presets.Preset]     # each point's preset


def load_base(name_or_path: str, sets: list[str] | None) -> tuple[presets.Preset, dict[str, list[Any]]]:
    """The preset (its `[sweep]` table taken out) with --set applied, and the file's axes."""
    path = presets.resolve_path(name_or_path)
    raw = presets.read_toml(path)
    axes = sweep_table(raw.pop("sweep", {}))
    base = presets.from_dict(raw, name=path.stem)
    if sets:
        base = presets.with_overrides(base, sets)
    return base, axes


def plan(name_or_path: str, grid: list[str] | None, sets: list[str] | None = None) -> Plan:
    """Expand and validate: every point must be a valid preset whose data is here."""
    base, axes = load_base(name_or_path, sets)
    given: set[str] = set()
    for text in grid or []:
        key, values = parse_axis(text)
        if key in given:
            raise BadInput(f"--grid {key} is given twice: put all its values in one axis, e.g. {key}=1,2,3")
        given.add(key)
        axes[key] = values  # the command line replaces the file's axis of the same key
    if not axes:
        raise BadInput("a sweep needs at least one axis: --grid section.key=values, or a [sweep] table in the preset")
    set_keys = {presets.parse_override(s)[0] + "." + presets.parse_override(s)[1] for s in sets or []}
    both = sorted(set_keys & set(axes))
    if both:
        raise BadInput(f"{both[0]} is both swept (--grid) and set (--set): keep one")
    n = math.prod(len(v) for v in axes.values())
    if n > MAX_POINTS:
        raise BadInput(f"the grid has {n:,} points (more than {MAX_POINTS:,}): check the ranges")
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    resolved = []
    checked_data: set[str] = set()
    for i, over in enumerate(points):
        try:
            p = presets.with_overrides(base, over)
        except BadInput as err:
            raise BadInput(f"sweep point {i} ({label(over)}): {err}") from None
        key = repr(p.data)
        if key not in checked_data:
            ok, fix = datasets.availability(p.data)
            if not ok:
                raise BadInput(f"sweep point {i} ({label(over)}): data set {p.data.name} is missing: {fix}")
            checked_data.add(key)
        resolved.append(p)
    return Plan(base, str(name_or_path), axes, points, resolved)


def label(over: dict[str, Any]) -> str:
    """'width=8 seed=2': the short names of a point's axis values."""
    return " ".join(f"{k.rsplit('.', 1)[-1]}={fmt(v)}" for k, v in over.items())


def fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)


def store_name(index: int, over: dict[str, Any]) -> str:
    """A fixed, readable store name: 003_width8_seed2.zarr (no timestamp: a requeued job finds it)."""
    parts = [f"{k.rsplit('.', 1)[-1]}{fmt(v)}" for k, v in over.items()]
    safe = re.sub(r"[^A-Za-z0-9.+_-]", "-", "_".join(parts))[:120]
    return f"{index:03d}_{safe}.zarr"

