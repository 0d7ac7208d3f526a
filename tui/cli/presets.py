"""`glasslab presets list` and `glasslab presets show`: browse the experiment presets."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..output import quiet_output
from . import complete, json_rows
from .common import SetOpt, clean_errors

presets_app = typer.Typer(help="Browse the experiment presets.", pretty_exceptions_enable=False)


@presets_app.command("list")
@quiet_output
def presets_list(as_json: Annotated[bool, typer.Option("--json", help="Print the presets as JSON (docs/json.md).")] = False):
    """Every preset: model, data set, dynamics, N, and whether its data is here."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from glasslab.core.runs import catalog

    with clean_errors():
        rows = catalog.summaries()
    if as_json:
        print(json.dumps({"schema": json_rows.SCHEMA, "presets": [json_rows.preset(s) for s in rows]}, indent=1))
        return
    table = Table(title="glasslab presets", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    for col in ("model", "data set", "dynamics"):
        table.add_column(col)
    for col in ("N", "P"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("data", no_wrap=True)
    fixes = {}
    for s in rows:
        if s.error:
            table.add_row(s.name, "[red]malformed[/]", "", "", "", "", "")
            fixes[s.name] = s.error
            continue
        table.add_row(s.name, s.model, s.data, s.dynamics, f"{s.n_params:,}", f"{s.train_size:,}",
                      "yes" if s.data_ok else "[yellow]no[/]")
        if not s.data_ok:
            fixes.setdefault(s.data, s.data_fix)
    if not sys.stdout.isatty():  # piped: plain columns at their full width (Rich would squeeze them to 80)
        print_columns([[c.header for c in table.columns]]
                      + [["malformed" if s.error else v for v in
                          ((s.name, "", "", "", "", "", "") if s.error else
                           (s.name, s.model, s.data, s.dynamics, f"{s.n_params:,}", f"{s.train_size:,}",
                            "yes" if s.data_ok else "no"))] for s in rows])
        for what, fix in fixes.items():
            print(f"{what}: {fix}")
        return
    console = Console()
    console.print(table)
    for what, fix in fixes.items():
        console.print(f"{what}: {fix}", markup=False, highlight=False)


def print_columns(rows: list[list[str]]) -> None:
    """Rows as left-aligned columns two spaces apart, nothing cut."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


@presets_app.command("show")
@quiet_output
def presets_show(name: Annotated[str, typer.Argument(help="Preset name or .toml path.", autocompletion=complete.presets)],
                 set_: SetOpt = None):
    """The resolved preset: every field with its value, defaults included."""
    from glasslab.core.config import presets
    from glasslab.core.runs import catalog

    with clean_errors():
        p = presets.load(name, set_)
        text = catalog.to_toml(p)
    print(text, end="")


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
