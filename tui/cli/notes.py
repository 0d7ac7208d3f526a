"""`glasslab note` and `glasslab diff`: a run as a lab-notebook page, and how two runs differ.

Thin commands over core/runs/notes.py (a note reaches a live run through its control channel,
a closed store under its lock) and core/analysis/diff.py (presets, switches, provenance and
headline readings side by side).  Bad input is one line and exit 2; a refused note, or no
answer in time, one line and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..output import quiet_output
from . import complete
from .common import TagOpt, clean_errors


def note_cmd(run: Annotated[Path, typer.Argument(help="The run's store (a .zarr directory), live or not.", autocompletion=complete.stores)],
             text: Annotated[str, typer.Argument(help="The note (quote it); may be left out when --tag is given.")] = "",
             tag: TagOpt = None,
             timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for a live run to take the note (it does between steps).")] = 60.0) -> None:
    """Write a note (and tags) into a run's store, while it trains or after: ps, analyze and the console show them."""
    from glasslab.core.runs import notes

    with clean_errors():
        from .runs import _store

        store = _store(run)
        note = notes.add(store, text, tag or [], timeout=timeout)
    what = " and ".join(x for x in ((f"note {note['text']!r}" if note["text"] else ""),
                                    (f"tags {', '.join(note['tags'])}" if note["tags"] else "")) if x)
    print(f"{what} written at step {note['step']:,} ({store})")


def diff_cmd(run_a: Annotated[Path, typer.Argument(help="The first run's store.", autocompletion=complete.stores)],
             run_b: Annotated[Path, typer.Argument(help="The second run's store.", autocompletion=complete.stores)],
             as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
             boot: Annotated[int, typer.Option("--boot", min=10, help="Bootstrap replicates for the error of mu.")] = 200) -> None:
    """How two runs differ: preset keys that differ, dynamics switches, provenance, final loss and mu with intervals."""
    from glasslab.core.analysis import diff

    with clean_errors():
        result = diff.compare(run_a, run_b, n_boot=boot)
    if as_json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return
    from glasslab.tui.diff_table import print_diff

    print_diff(result)


def register(app: typer.Typer) -> None:
    app.command("note")(quiet_output(note_cmd))
    app.command("diff")(quiet_output(diff_cmd))
