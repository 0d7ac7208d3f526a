"""Print the lowest versions pyproject.toml allows, as pip constraints: the floors CI tests.

    python .ci/floors.py > floors.txt; pip install -c floors.txt -e '.[test,notebook,plot]'
    python .ci/floors.py --check      # exit 1 unless this interpreter has exactly those versions

Read from pyproject.toml, so a floor raised there is the floor tested here.  Every runtime
dependency and every dependency of the notebook and plot extras is pinned to its floor (issue 32;
issue 24 pinned only torch, torchvision, numpy, zarr and textual, and two wrong floors went
unseen).  A dependency without a '>=' floor is an error: an unbounded one cannot be tested.

click is not listed: typer vendors its own click since 0.26 (typer.core imports typer._click), so
at typer's floor (0.27.2) no separate click is installed or needed.  The test tools (pytest and its plugins) resolve as usual: they are not glasslab's
dependencies.  What the pinned packages bring themselves (pandas under xarray, pydantic under
typer 0.29) resolves as usual too.
"""

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("notebook", "plot")  # the extras a user installs; "test" is ours


def floors(pyproject: Path) -> dict[str, str]:
    meta = tomllib.loads(pyproject.read_text())["project"]
    specs = [*meta["dependencies"], *(s for extra in EXTRAS for s in meta["optional-dependencies"][extra])]
    found, unbounded = {}, []
    for spec in specs:
        spec = spec.split(";")[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?\s*>=\s*([0-9][0-9.]*)\s*(,.*)?", spec)
        if not m:
            unbounded.append(spec)
            continue
        found[m.group(1).lower()] = m.group(3)
    if unbounded:
        sys.exit(f"floors.py: pyproject.toml gives no '>=' floor for {', '.join(unbounded)}")
    return found


def _release(text: str) -> list[int]:
    """'2.5.0+cu124' -> [2, 5, 0]; '2024.10.0' -> [2024, 10, 0]."""
    return [int(x) for x in re.match(r"[0-9.]+", text).group(0).strip(".").split(".")]


def same(have: str, floor: str) -> bool:
    """True when the installed release is the floor (torch 2.5.0+cu124 is torch 2.5; 2.5.1 is not)."""
    parts, want = _release(have), _release(floor)
    return parts[:len(want)] == want and not any(parts[len(want):])


def check(wanted: dict[str, str]) -> None:
    """Exit non-zero unless this interpreter has exactly the floors (pip may not have taken them)."""
    from importlib.metadata import PackageNotFoundError, version

    def have(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "missing"

    wrong = [f"{n} {have(n)} (floor {v})" for n, v in wanted.items() if have(n) == "missing" or not same(have(n), v)]
    if wrong:
        sys.exit("floors.py: not the floors: " + ", ".join(wrong))
    print("floors: " + ", ".join(f"{n} {version(n)}" for n in wanted))


if __name__ == "__main__":
    wanted = floors(Path(__file__).resolve().parents[1] / "pyproject.toml")
    if sys.argv[1:] == ["--check"]:
        check(wanted)
    else:
        for name, v in wanted.items():
            print(f"{name}=={v}")
