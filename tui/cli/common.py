"""What every glasslab command shares: the one-line errors, the option aliases, the console's opening.

Known errors (core.errors.GlasslabError) become one line on stderr and an exit
code (2 bad input, 1 failed); never a traceback.  The console is imported
lazily, so `glasslab run ... --no-ui` never imports textual.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from glasslab.core.errors import BadInput, GlasslabError

# Option aliases, defined once.
OutOpt = Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Directory that holds the run stores.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", metavar="DEVICE", help="auto | cpu | cuda | cuda:N | mps (overrides run.device); cuda:N is the N-th GPU (after CUDA_VISIBLE_DEVICES).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a preset field: section.key=value (repeatable).")]
StepsOpt = Annotated[Optional[int], typer.Option("--steps", metavar="N", help="Number of steps (overrides run.steps).")]
DataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", metavar="DIR", help="Where mnist/cifar files live (default ./data).")]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Download the data set if it is missing.")]
TagOpt = Annotated[Optional[list[str]], typer.Option("--tag", help="A tag for the run (repeatable): glasslab ps --tag X finds it.")]
ThreadsOpt = Annotated[Optional[str], typer.Option(
    "--threads", metavar="N|auto", help="CPU threads for torch: N or auto (run: overrides run.threads; resume: default the count recorded in the store).")]

# Every GLASSLAB_* variable a user may set, and the exit codes: glasslab --help prints these
# (tui/cli/__init__.py) and README's "Environment and exit codes" says the same (a test compares).
# GLASSLAB_FAULT_* are the test suite's fault hooks, not for users.
ENVIRONMENT = {
    "GLASSLAB_OUT": "run stores: where runs go, ps and the console look (./runs)",
    "GLASSLAB_DATA": "the data sets (./data; --data-dir and data.dir win)",
    "GLASSLAB_PRESETS": "a preset folder instead of the presets shipped",
    "GLASSLAB_SWEEPS": "where glasslab sweep puts new sweeps (./sweeps)",
    "GLASSLAB_THREADS": "torch threads wherever a run says threads = auto",
}
EXIT_CODES = {
    "0": "finished",
    "1": "failed, diverged, a request the run refused, a sweep point unfinished",
    "2": "bad input (stop/switch on a run not running too): one line on stderr",
    "128+N": "stopped by signal N, state saved (130 Ctrl-C, 143 TERM)",
}


def untag(command) -> None:
    """Help without type tags: typer prints `--force <bool>`, `--steps <int>`, `RUN_DIR <path>` (0.29;
    0.27 `<int>`, `<path>`).  Flags get no placeholder, an option without a metavar its name in
    capitals (argparse's convention: --steps STEPS), an argument none.  Walks the whole click tree
    when the top group is built (OneLineUsage.__init__), and its own options again when it runs
    (typer adds the completion options after building it); what is done once is skipped."""
    from typer.core import TyperArgument, TyperOption

    for p in command.params:
        if isinstance(p, TyperOption):
            if p.is_flag or p.count:
                p.metavar = ""
            elif p.metavar is None:
                p.metavar = p.name.strip("_").upper()  # set_ -> SET
        elif isinstance(p, TyperArgument) and "display_type_rich" not in vars(p):
            # The tag is asked of the parameter (typer >= 0.28) or of its ParamType (0.27):
            # instance attributes shadow both methods, here only.
            p.display_type_rich = _no_tag
            if hasattr(p, "type"):
                p.type = copy.copy(p.type)
                p.type.get_metavar = _no_tag
    if "get_help_option" in vars(command):  # done already (the top group: again once typer added its own)
        return
    help_option = command.get_help_option  # click makes --help when help is asked for

    def untagged_help_option(ctx):
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = untagged_help_option
    for sub in getattr(command, "commands", {}).values():
        untag(sub)


def _no_tag(*args, **kwargs) -> str:
    return ""


class OneLineUsage(TyperGroup):
    """The top command group: a usage error (an unknown option or command, a missing or malformed
    argument) is one line and exit 2, like every other bad input, instead of Click's usage box:

        glasslab: error: no such option --foo: see glasslab run --help

    Click's UsageError is not public in typer (it is vendored); it subclasses the public
    typer.TyperException and carries the context of the command that refused the arguments.
    Errors of the top group come from make_context, those of a command below it from invoke."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        untag(self)

    def make_context(self, *args, **kwargs):
        untag(self)  # typer adds --install-completion and --show-completion after __init__
        with one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with one_line_usage():
            return super().invoke(ctx)


@contextlib.contextmanager
def one_line_usage():
    try:
        yield
    except typer.TyperException as err:
        where = getattr(err, "ctx", None)
        if getattr(err, "exit_code", None) != 2 or where is None:
            raise
        # The command by its name, whatever ran it (python -m glasslab.tui.cli, CliRunner's "root").
        command = " ".join(["glasslab", *[c.info_name for c in list(_lineage(where))[::-1][1:]]])
        print(f"glasslab: error: {usage_line(err.format_message())}: see {command} --help", file=sys.stderr, flush=True)
        raise typer.Exit(2) from None


def _lineage(ctx):
    while ctx is not None:
        yield ctx
        ctx = ctx.parent


def usage_line(message: str) -> str:
    """Click's message in glasslab's voice: one line, lower case, no full stop ("No such option:
    --foo" -> "no such option --foo")."""
    line = " ".join(message.split()).rstrip(".")
    for said in ("No such option: ", "No such command "):
        if line.startswith(said):
            line = said.rstrip(": ") + " " + line[len(said):]
    return line[:1].lower() + line[1:]


def science_doc() -> Path:
    """Where the definitions of every number (docs/science.md) are on this machine: shipped in the
    package (tui/science.md links it), so an installed wheel has them too, not only a checkout."""
    from importlib import resources

    return Path(str(resources.files("glasslab.tui").joinpath("science.md")))


def fail(err: GlasslabError) -> typer.Exit:
    print(f"glasslab: error: {err}", file=sys.stderr, flush=True)
    return typer.Exit(err.exit_code)


@contextlib.contextmanager
def clean_errors():
    """Turn the engine's known errors into one line and an exit code."""
    try:
        yield
    except GlasslabError as err:
        raise fail(err) from None


def load_preset(name: str, sets: list[str] | None, steps: int | None, device: str | None):
    from glasslab.core.config import presets

    overrides = list(sets or [])
    if steps is not None:
        overrides.append(f"run.steps={steps}")
    if device is not None:
        if not presets.is_device(device):
            raise BadInput(f"--device {device!r} is not known: use auto, cpu, cuda, cuda:N or mps")
        overrides.append(f"run.device={device}")
    return presets.load(name, overrides)



ConsoleOutOpt = Annotated[Path, typer.Option("--out", "-o", metavar="DIR", envvar="GLASSLAB_OUT",
                                             help="Directory that holds the run stores.")]


def has_terminal() -> bool:
    """stdin and stdout are a terminal that can draw: the console can take the screen and read keys
    (not a batch job, a pipe, a file, nor TERM=dumb: Emacs' shell, IDE consoles, which show the
    full-screen app's escape codes as text)."""
    return terminal_problem() is None


def terminal_problem() -> str | None:
    """Why the console cannot open here (None: it can): no terminal, or one that says it cannot draw."""
    try:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return "no terminal"
    except (AttributeError, ValueError):  # None, or closed
        return "no terminal"
    if os.environ.get("TERM", "").strip().lower() == "dumb":
        return "TERM=dumb"
    return None


def needs_terminal() -> str:
    """The one line for a console asked for where it cannot draw."""
    problem = terminal_problem()
    why = " that can draw (TERM=dumb here)" if problem == "TERM=dumb" else ""
    return f"the console needs a terminal{why}: use --no-ui, --detach or glasslab ps"


def open_console(out: Path, autostart=None, data_dir: str | None = None, download: bool = False, follow=None) -> None:
    """Run the Textual app; imported here so that headless commands never import textual.
    Without a terminal it refuses at once (BadInput): a full-screen app on a pipe hangs until killed."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file, not a directory: choose a directory for the runs")
    if not has_terminal():
        raise BadInput(needs_terminal())
    from glasslab.tui.app import make_app
    from glasslab.tui.console.quitting import run_console

    code = run_console(make_app(out_dir=out, autostart=autostart, data_dir=data_dir, download=download, follow=follow))
    if code:
        raise typer.Exit(code)
