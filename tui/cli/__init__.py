"""The `glasslab` command line: thin commands over the engine in core/, one module per group.

    run.py       run, resume (and the hidden process of a detached run)
    runs.py      ps, stop, switch, follow
    sweep.py     sweep, sweep status | resume | cancel
    analyze.py   analyze, overlay
    control.py   control (the noise-off control and replicas)
    presets.py   presets list, presets show
    common.py    the one-line errors, the option aliases, opening the console

With no command, glasslab opens the lab console (tui/app.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from . import analyze, common, control, presets, run, runs, sweep
from .common import ConsoleOutOpt, DataDirOpt, DownloadOpt, clean_errors

app = typer.Typer(cls=common.OneLineUsage, add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  help="glasslab: does training age like a glass?  Train networks and measure them with the tools of glass physics.")


@app.callback(invoke_without_command=True)
def default(ctx: typer.Context) -> None:
    """With no command, glasslab opens the lab console."""
    if ctx.invoked_subcommand is None:
        with clean_errors():
            common.open_console(Path(os.environ.get("GLASSLAB_OUT", "runs")))


def console_cmd(out: ConsoleOutOpt = Path("runs"), data_dir: DataDirOpt = None, download: DownloadOpt = False):
    """Open the lab console: browse presets, start and steer runs, watch loss and Delta live."""
    with clean_errors():
        common.open_console(out, data_dir=data_dir, download=download)


# Registered in the order `glasslab --help` lists them.
for group in (run, analyze, control, presets, sweep):
    group.register(app)
app.command("console")(console_cmd)
runs.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
