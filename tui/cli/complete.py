"""Shell completion of glasslab's arguments: preset names, run stores and sweep directories.

typer's completion machinery does the rest (commands, options; bash, zsh and fish scripts,
`glasslab --install-completion`).  Each completer gets the word typed so far and returns the
candidates that start with it; it runs at every TAB, so it only lists folders (no store is
opened, torch is not imported) and never raises: a completer that fails completes nothing.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

SWEEP_MANIFEST = "sweep.json"  # core/sweep/manifest.py's file name: a folder holding it is a sweep


def presets(incomplete: str) -> list[str]:
    """Preset names (the working directory's presets/ and the shipped ones, as `glasslab presets
    list`), and .toml files when a path is being typed."""
    try:
        from glasslab.core.config.presets import available

        names = sorted(available())
    except Exception:  # a completer never breaks the shell
        names = []
    out = [n for n in names if n.startswith(incomplete)]
    if incomplete and ("/" in incomplete or incomplete.startswith(".")):
        out += _paths(incomplete, lambda p: p.is_file() and p.suffix == ".toml")
    return out


def stores(incomplete: str) -> list[str]:
    """Run stores (NAME.zarr folders): under the path typed so far, or under $GLASSLAB_OUT (./runs)."""
    return _under(incomplete, Path(os.environ.get("GLASSLAB_OUT", "runs")), _is_store)


def sweeps(incomplete: str) -> list[str]:
    """Sweep directories (a sweep.json inside): under the path typed so far, or $GLASSLAB_SWEEPS (./sweeps)."""
    return _under(incomplete, Path(os.environ.get("GLASSLAB_SWEEPS", "sweeps")), _is_sweep)


def stores_or_sweeps(incomplete: str) -> list[str]:
    """What analyze reads: a run store or a sweep directory."""
    return sorted(set(stores(incomplete)) | set(sweeps(incomplete)))


def folders(incomplete: str) -> list[str]:
    """Directories (ps: the folders that hold run stores)."""
    return _paths(incomplete, Path.is_dir, descend=False)


def _is_store(p: Path) -> bool:
    return p.is_dir() and p.name.endswith(".zarr")


def _is_sweep(p: Path) -> bool:
    return (p / SWEEP_MANIFEST).is_file()


def _under(incomplete: str, home: Path, wanted) -> list[str]:
    """The wanted folders that start with what was typed, plus the folders on the way to them
    (with a trailing '/', to descend); with nothing or a bare word typed, also those in home."""
    out = _paths(incomplete, wanted, descend=True)
    if "/" not in incomplete and home.is_dir():
        out += _paths(os.path.join(str(home), incomplete), wanted, descend=False)
    return sorted(set(out))


def _paths(incomplete: str, wanted, descend: bool = True) -> list[str]:
    try:
        hits = glob.glob(glob.escape(os.path.expanduser(incomplete)) + "*")
    except Exception:
        return []
    out = []
    for hit in hits:
        p = Path(hit)
        if not p.name.startswith(".") or incomplete.rsplit("/", 1)[-1].startswith("."):
            if wanted(p):
                out.append(hit)
            elif descend and p.is_dir() and not p.name.endswith((".zarr", ".control", ".controls")):
                out.append(hit.rstrip("/") + "/")
    return out
