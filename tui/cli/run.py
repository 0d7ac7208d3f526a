"""`glasslab run` and `glasslab resume`: train a preset, or continue a run, headless or in the console.

The headless path is core/runs/headless.py (the writer, the control channel, the
two-time completion) with the printer of tui/printer.py as one more sink; a
detached run is the same process started apart from the terminal (core/runs/launch.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from glasslab.core.errors import GlasslabError

from ..output import guarded_output
from . import common, complete
from .common import (
    DataDirOpt,
    DeviceOpt,
    DownloadOpt,
    OutOpt,
    SetOpt,
    StepsOpt,
    TagOpt,
    ThreadsOpt,
    clean_errors,
    load_preset,
    )


def run_cmd(
    preset: Annotated[str, typer.Argument(help="Preset name (glasslab presets list) or path to a .toml file.", autocompletion=complete.presets)],
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Run headless (batch jobs): progress and summary on stdout.")] = False,
    out: OutOpt = Path("runs"),
    device: DeviceOpt = None,
    set_: SetOpt = None,
    steps: StepsOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    init_from: Annotated[Optional[Path], typer.Option("--init-from", help="Start from the last snapshot of this run (same model).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Start it in the background (own session, survives logout): print the store and return.")] = False,
    threads: ThreadsOpt = None,
    tag: TagOpt = None,
):
    """Train a preset and record its trajectory in a Zarr store."""
    from glasslab.core.config import presets
    from glasslab.core.store import paths
    from glasslab.core.store.lock import check_lockable
    from glasslab.core.train.run import Run

    with clean_errors():
        sets = [*(set_ or []), *([f"run.init_from={json.dumps(str(init_from))}"] if init_from else []),
                *([f"run.threads={json.dumps(threads)}"] if threads is not None else [])]
        p = load_preset(preset, sets, steps, device)
        if tag:  # added to the preset's own run.tags, checked like them
            p = presets.with_overrides(p, {"run.tags": [*p.run.tags, *tag]})
        name = presets.run_name(p)  # a file name that cannot name a store: one line before any data is loaded
        if detach:  # the same headless process, started apart from this terminal
            return detach_run(p, out, data_dir, download)
        if not no_ui and common.has_terminal():  # the console trains it, feeding the same records to the same writer
            return common.open_console(out, autostart=p, data_dir=data_dir, download=download)
        if not no_ui:  # a batch script, `</dev/null >file`, TERM=dumb: the console would hang or garble, so train as --no-ui does
            print(f"glasslab: {common.terminal_problem()}: training headless, as with --no-ui", file=sys.stderr, flush=True)
        check_lockable(out)  # a file system where no store lock is possible: one line before the data loads
        run = Run(p, data_dir=data_dir, download=download)
        out_dir = paths.check_out_dir(out)
        path = paths.new_run_path(out_dir, name)
    train_headless(run, path)


def resume_cmd(
    run_dir: Annotated[Path, typer.Argument(help="The run's store (a .zarr directory).", autocompletion=complete.stores)],
    steps: Annotated[Optional[int], typer.Option("--steps", help="The run's new total step count: more than planned extends it, fewer shortens it (the resume says which).")] = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    threads: ThreadsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Take the store's lock even if its lease has not run out (its writer is known to be gone).")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Continue it in the background (own session, survives logout): print the store and return.")] = False,
):
    """Continue an interrupted, stopped or killed run from its last saved state, in the same store."""
    from glasslab.core.runs import launch, resume

    with clean_errors():
        if detach:  # refused here, before a process starts, if the resume would be (a live writer, finished ...)
            launch.resume(run_dir, data_dir=data_dir, download=download, steps=steps, threads=threads, force=force)
            print(run_dir)
            print(f"continuing in the background (log: {launch.log_of(run_dir)}); follow it with: "
                  f"glasslab follow {run_dir}; stop it with: glasslab stop {run_dir}", file=sys.stderr)
            return
        run, lock = resume.prepare(run_dir, steps=steps, data_dir=data_dir, download=download, threads=threads,
                                   force=force)
    with guarded_output():  # `resume ... | head`: a closed pipe stops the printing, not the run
        for line in resume.describe(run):
            print(line, flush=True)
        train_headless(run, run_dir, lock=lock)


def train_headless(run, path: Path, lock=None, extra_sinks=()) -> None:
    """Train a run headless into its store (core/runs/headless.py) with the printer; exit with the run's code.
    extra_sinks see every record after the printer (tests/stress/ steers runs so)."""
    from glasslab.core.runs import headless
    from glasslab.tui.printer import HeadlessPrinter

    printers = []

    def sinks(writer):
        printers.append(HeadlessPrinter(path, committed=lambda: writer.n_snapshots))
        return [*printers, *extra_sinks]

    # Output errors never end the training (tui/output.py): a hung-up terminal (EIO, then the
    # SIGHUP that stops the run with its state saved), `| head` (EPIPE) or a closed stdout.
    with guarded_output(), clean_errors():
        try:
            outcome = headless.train(run, path, lock=lock, sinks=sinks)
        finally:
            for printer in printers:
                printer.close()
        if outcome.warning:
            print(f"glasslab: {outcome.warning}", file=sys.stderr)
        elif outcome.two_time:
            print(f"two-time matrices over {outcome.two_time} snapshots completed in {outcome.two_time_s:.1f} s")
        problem = outcome.problem(path)
        if problem:
            print(f"glasslab: {problem}", file=sys.stderr)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def train_detached_cmd(store: Annotated[Path, typer.Argument()],
                       data_dir: Annotated[Optional[str], typer.Option("--data-dir")] = None,
                       download: Annotated[bool, typer.Option("--download")] = False) -> None:
    """The process of a detached run (core/runs/launch.py): the preset it was given, trained as `glasslab run --no-ui`."""
    from glasslab.core.config import presets
    from glasslab.core.runs import launch
    from glasslab.core.store.paths import release_claim
    from glasslab.core.train.run import Run

    with clean_errors():
        try:
            p = presets.from_stored(launch.stored_preset(store))
            run = Run(p, data_dir=data_dir, download=download)
        except GlasslabError:
            release_claim(store)  # the name launch.start claimed: no store was written
            raise
    train_headless(run, store)


def detach_run(preset, out: Path, data_dir: str | None, download: bool) -> None:
    """`glasslab run PRESET --detach`: start the run in its own session, print its store, return at once."""
    from glasslab.core.runs import launch

    try:
        store, _ = launch.start(preset, out, data_dir=data_dir, download=download)
    except GlasslabError as err:
        print(f"glasslab: error: {err}", file=sys.stderr)
        raise typer.Exit(err.exit_code) from None
    print(store)
    print(f"started in the background (log: {store}.control/output.log); follow it with: glasslab follow {store}; "
          f"stop it with: glasslab stop {store}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("resume")(resume_cmd)
    app.command("_train", hidden=True)(train_detached_cmd)
