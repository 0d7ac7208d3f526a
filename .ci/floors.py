"""Print the lowest versions pyproject.toml allows, as pip constraints: the floors CI tests.

    python .ci/floors.py > floors.txt; pip install -c floors.txt -e '.[test]'

Read from pyproject.toml, so a floor raised there is the floor tested here.  Only the packages
whose old releases the code could trip on are pinned to their floor (the issue-24 list: torch and
its torchvision, numpy, zarr, textual); the rest resolve as usual.
"""

import re
import sys
import tomllib
from pathlib import Path

PINNED = ("torch", "torchvision", "numpy", "zarr", "textual")


def floors(pyproject: Path) -> dict[str, str]:
    found = {}
    for spec in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)\s*(,.*)?", spec.strip())
        if m and m.group(1).lower() in PINNED:
            found[m.group(1).lower()] = m.group(2)
    missing = set(PINNED) - set(found)
    if missing:
        sys.exit(f"floors.py: pyproject.toml gives no '>=' floor for {', '.join(sorted(missing))}")
    return found


def check(wanted: dict[str, str]) -> None:
    """Exit non-zero unless this interpreter has exactly the floors (pip may not have taken them)."""
    from importlib.metadata import version

    def same(have: str, floor: str) -> bool:  # torch 2.5.0+cu124 is torch 2.5
        parts = [int(x) for x in re.match(r"[0-9.]+", have).group(0).strip(".").split(".")]
        want = [int(x) for x in floor.split(".")]
        return parts[:len(want)] == want and not any(parts[len(want):])

    wrong = [f"{n} {version(n)} (floor {v})" for n, v in wanted.items() if not same(version(n), v)]
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
