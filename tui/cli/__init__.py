"""The `glasslab` command line: thin commands over the engine in core/, one module per group.

    run.py       run, resume (and the hidden process of a detached run)
    runs.py      ps, stop, switch, follow
    notes.py     note, diff
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
from typing import Annotated

import typer

from . import analyze, common, control, notes, presets, run, runs, sweep
from .common import ConsoleOutOpt, DataDirOpt, DownloadOpt, clean_errors

def _epilog() -> str:
    """The environment variables and exit codes, under the commands in glasslab --help."""
    env = "\n".join(f"  {k:<17} {v}" for k, v in common.ENVIRONMENT.items())
    codes = "\n".join(f"  {k:<6} {v}" for k, v in common.EXIT_CODES.items())
    return (f"\b\nEnvironment:\n{env}\n\n\b\nExit codes:\n{codes}\n\n"
            "Shell completion (bash, zsh, fish): glasslab --install-completion, then open a new shell.")


app = typer.Typer(cls=common.OneLineUsage, no_args_is_help=False, pretty_exceptions_enable=False,
                  epilog=_epilog(),
                  help="glasslab: does training age like a glass?  Train networks and measure them with the tools of glass physics.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"glasslab {version('glasslab')}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def default(ctx: typer.Context,
            version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                                  help="Print glasslab's version and exit.")] = False) -> None:
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
notes.register(app)


def main() -> None:
    """Console-script entry point (also python -m glasslab and python -m glasslab.tui.cli)."""
    app(prog_name="glasslab")
